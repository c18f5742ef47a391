// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Mirrors androidx/androidx camera/camera-lifecycle/api/current.txt (commit 199df416, signature
// format 4.0); getInstance, bindToLifecycle and unbindAll have these signatures since 1.0, so also in the app's
// 1.6.1.
// Held member by member against tests/android_stubs/signatures/camera-lifecycle-current.txt.
package androidx.camera.lifecycle;

import android.content.Context;
import androidx.annotation.NonNull;
import androidx.camera.core.Camera;
import androidx.camera.core.CameraSelector;
import androidx.camera.core.UseCase;
import androidx.camera.core.UseCaseGroup;
import androidx.lifecycle.LifecycleOwner;
import com.google.common.util.concurrent.ListenableFuture;

public final class ProcessCameraProvider {
    private ProcessCameraProvider() { throw new RuntimeException("Stub!"); }
    @NonNull public Camera bindToLifecycle(@NonNull LifecycleOwner lifecycleOwner,
            @NonNull CameraSelector cameraSelector, UseCase... useCases) { throw new RuntimeException("Stub!"); }
    @NonNull public static ListenableFuture<ProcessCameraProvider> getInstance(@NonNull Context context) { throw new RuntimeException("Stub!"); }
    @NonNull public Camera bindToLifecycle(@NonNull LifecycleOwner lifecycleOwner,
            @NonNull CameraSelector cameraSelector, @NonNull UseCaseGroup useCaseGroup) { throw new RuntimeException("Stub!"); }
    public void unbind(UseCase... useCases) { throw new RuntimeException("Stub!"); }
    public void unbindAll() { throw new RuntimeException("Stub!"); }
}
