// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (android-stubs/os/__init__.pyi); kind, modifiers and return widths from the API reference.
// test_android_platform.py checks every member here against that package.
package android.os;

public class Build {
    public Build() { throw new RuntimeException("Stub!"); }
    public static final String DEVICE = stub();
    public static final String HARDWARE = stub();
    public static final String MANUFACTURER = stub();
    public static final String MODEL = stub();
    public static final String SOC_MANUFACTURER = stub();
    public static final String SOC_MODEL = stub();

    public static class VERSION {
        public VERSION() { throw new RuntimeException("Stub!"); }
        public static final String RELEASE = stub();
        public static final int SDK_INT = stubInt();
    }

    public static class VERSION_CODES {
        public VERSION_CODES() { throw new RuntimeException("Stub!"); }
        public static final int S = 31;
    }

    private static String stub() { throw new RuntimeException("Stub!"); }
    private static int stubInt() { throw new RuntimeException("Stub!"); }
}
