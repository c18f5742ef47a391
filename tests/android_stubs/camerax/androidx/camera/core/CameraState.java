// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Mirrors androidx/androidx camera/camera-core/api/1.5.0-beta01.txt (commit a9b06aaf, signature
// format 4.0: unmarked types non-null, ? nullable, ! platform); the app uses CameraX 1.6.1, whose API is a
// superset.
// Held member by member against tests/android_stubs/signatures/camera-core-1.5.0-beta01.txt.
package androidx.camera.core;

import androidx.annotation.NonNull;
import androidx.annotation.Nullable;

public abstract class CameraState {
    public CameraState() { throw new RuntimeException("Stub!"); }
    public static final int ERROR_CAMERA_DISABLED = 5;
    public static final int ERROR_CAMERA_FATAL_ERROR = 6;
    public static final int ERROR_CAMERA_IN_USE = 2;
    public static final int ERROR_DO_NOT_DISTURB_MODE_ENABLED = 7;
    public static final int ERROR_MAX_CAMERAS_IN_USE = 1;
    public static final int ERROR_OTHER_RECOVERABLE_ERROR = 3;
    public static final int ERROR_STREAM_CONFIG = 4;
    @Nullable public abstract StateError getError();

    public abstract static class StateError {
        public StateError() { throw new RuntimeException("Stub!"); }
        @Nullable public abstract Throwable getCause();
        public abstract int getCode();
        @NonNull public ErrorType getType() { throw new RuntimeException("Stub!"); }
    }

    public enum ErrorType { CRITICAL, RECOVERABLE }
}
