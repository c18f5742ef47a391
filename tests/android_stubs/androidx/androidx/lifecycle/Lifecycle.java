// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. androidx.lifecycle:lifecycle-common (through activity 1.10.1), members as typed by
// chaquopy-stubs-androidx-lifecycle-lifecycle-common 2.7.0.20260401 (androidx-stubs/lifecycle/__init__.pyi);
// test_android_platform.py checks every member here against that package.
package androidx.lifecycle;

public abstract class Lifecycle {
    public Lifecycle() { throw new RuntimeException("Stub!"); }
}
