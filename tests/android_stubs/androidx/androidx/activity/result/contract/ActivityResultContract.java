// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. androidx.activity:activity 1.10.1, members as typed by chaquopy-stubs-androidx-activity-activity
// 1.13.0.20260401 (androidx-stubs/activity/result/contract/__init__.pyi); test_android_platform.py checks every
// member here against that package.
package androidx.activity.result.contract;

public abstract class ActivityResultContract<I, O> {
    public ActivityResultContract() { throw new RuntimeException("Stub!"); }
}
