// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Mirrors androidx/androidx camera/camera-core/api/1.5.0-beta01.txt (commit a9b06aaf, signature
// format 4.0: unmarked types non-null, ? nullable, ! platform); the app uses CameraX 1.6.1, whose API is a
// superset.
// Held member by member against tests/android_stubs/signatures/camera-core-1.5.0-beta01.txt.
package androidx.camera.core;

import androidx.annotation.NonNull;
import androidx.annotation.Nullable;
import androidx.camera.core.resolutionselector.ResolutionSelector;
import java.util.concurrent.Executor;

public final class Preview extends UseCase {
    private Preview() { throw new RuntimeException("Stub!"); }
    public int getTargetRotation() { throw new RuntimeException("Stub!"); }
    public void setSurfaceProvider(@Nullable SurfaceProvider surfaceProvider) { throw new RuntimeException("Stub!"); }
    public void setSurfaceProvider(@NonNull Executor executor, @Nullable SurfaceProvider surfaceProvider) { throw new RuntimeException("Stub!"); }
    public void setTargetRotation(int targetRotation) { throw new RuntimeException("Stub!"); }

    public interface SurfaceProvider {
        void onSurfaceRequested(@NonNull SurfaceRequest request);
    }

    public static final class Builder {
        public Builder() { throw new RuntimeException("Stub!"); }
        @NonNull public Preview build() { throw new RuntimeException("Stub!"); }
        @NonNull public Builder setResolutionSelector(@NonNull ResolutionSelector resolutionSelector) { throw new RuntimeException("Stub!"); }
    }
}
