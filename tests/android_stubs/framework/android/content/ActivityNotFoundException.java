// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (android-stubs/content/__init__.pyi); kind, modifiers and return widths from the API reference.
// test_android_platform.py checks every member here against that package.
package android.content;

public class ActivityNotFoundException extends RuntimeException {
    public ActivityNotFoundException() { throw new RuntimeException("Stub!"); }
    public ActivityNotFoundException(String name) { throw new RuntimeException("Stub!"); }
}
