// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Mirrors androidx/androidx camera/camera-core/api/1.5.0-beta01.txt (commit a9b06aaf, signature
// format 4.0: unmarked types non-null, ? nullable, ! platform); the app uses CameraX 1.6.1, whose API is a
// superset.
// Held member by member against tests/android_stubs/signatures/camera-core-1.5.0-beta01.txt.
package androidx.camera.core;

public abstract class UseCase {
    UseCase() { throw new RuntimeException("Stub!"); }
}
