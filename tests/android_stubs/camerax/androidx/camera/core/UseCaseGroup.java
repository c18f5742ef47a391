// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Mirrors androidx/androidx camera/camera-core/api/1.5.0-beta01.txt (commit a9b06aaf): the class only,
// as the type of ProcessCameraProvider's second bindToLifecycle overload.
package androidx.camera.core;

public final class UseCaseGroup {
    private UseCaseGroup() { throw new RuntimeException("Stub!"); }
}
