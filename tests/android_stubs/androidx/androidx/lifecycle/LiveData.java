// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. androidx.lifecycle:lifecycle-livedata-core (through CameraX 1.6.1), members as typed by
// chaquopy-stubs-androidx-lifecycle-lifecycle-livedata-core 2.10.0.20260401
// (androidx-stubs/lifecycle/__init__.pyi); test_android_platform.py checks every member here against that package.
package androidx.lifecycle;

import androidx.annotation.NonNull;

public abstract class LiveData<T> {
    public LiveData() { throw new RuntimeException("Stub!"); }
    public void observe(@NonNull LifecycleOwner owner, @NonNull Observer<? super T> observer) { throw new RuntimeException("Stub!"); }
}
