// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. androidx.activity:activity 1.10.1, members as typed by chaquopy-stubs-androidx-activity-activity
// 1.13.0.20260401 (androidx-stubs/activity/result/contract/__init__.pyi); test_android_platform.py checks every
// member here against that package.
package androidx.activity.result.contract;

public final class ActivityResultContracts {
    private ActivityResultContracts() { throw new RuntimeException("Stub!"); }

    public static final class RequestPermission extends ActivityResultContract<String, Boolean> {
        public RequestPermission() { throw new RuntimeException("Stub!"); }
    }
}
