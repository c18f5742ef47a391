// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (android-stubs/view/__init__.pyi); kind, modifiers and return widths from the API reference.
// test_android_platform.py checks every member here against that package.
package android.view;

public interface WindowManager {
    class LayoutParams extends ViewGroup.LayoutParams {
        public LayoutParams() { super(0, 0); throw new RuntimeException("Stub!"); }
        public static final int FLAG_KEEP_SCREEN_ON = 128;
    }
}
