// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (android-stubs/__init__.pyi; ids from framework-res.apk, held against it by the test); kind, modifiers and return
// widths from the API reference. test_android_platform.py checks every member here against that package.
package android;

public final class R {
    public R() { throw new RuntimeException("Stub!"); }

    public static final class layout {
        public layout() { throw new RuntimeException("Stub!"); }
        public static final int simple_spinner_dropdown_item = 0x01090009;
        public static final int simple_spinner_item = 0x01090008;
    }
}
