// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (android-stubs/widget/__init__.pyi); kind, modifiers and return widths from the API reference.
// test_android_platform.py checks every member here against that package.
package android.widget;

public abstract class BaseAdapter implements SpinnerAdapter {
    public BaseAdapter() { throw new RuntimeException("Stub!"); }
}
