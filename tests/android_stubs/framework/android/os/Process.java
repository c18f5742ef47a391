// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (android-stubs/os/__init__.pyi); kind, modifiers and return widths from the API reference.
// test_android_platform.py checks every member here against that package.
package android.os;

public class Process {
    private Process() { throw new RuntimeException("Stub!"); }
    public static final int myPid() { throw new RuntimeException("Stub!"); }
}
