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

public final class ImageAnalysis extends UseCase {
    private ImageAnalysis() { throw new RuntimeException("Stub!"); }
    public static final int OUTPUT_IMAGE_FORMAT_RGBA_8888 = 2;
    public static final int STRATEGY_KEEP_ONLY_LATEST = 0;
    public void clearAnalyzer() { throw new RuntimeException("Stub!"); }
    public int getTargetRotation() { throw new RuntimeException("Stub!"); }
    public void setAnalyzer(@NonNull Executor executor, @NonNull Analyzer analyzer) { throw new RuntimeException("Stub!"); }
    public void setTargetRotation(int rotation) { throw new RuntimeException("Stub!"); }

    public interface Analyzer {
        void analyze(@NonNull ImageProxy image);
        default int getTargetCoordinateSystem() { throw new RuntimeException("Stub!"); }
    }

    public static final class Builder {
        public Builder() { throw new RuntimeException("Stub!"); }
        @NonNull public ImageAnalysis build() { throw new RuntimeException("Stub!"); }
        @NonNull public Builder setBackpressureStrategy(int strategy) { throw new RuntimeException("Stub!"); }
        @NonNull public Builder setOutputImageFormat(int outputImageFormat) { throw new RuntimeException("Stub!"); }
        @NonNull public Builder setResolutionSelector(@NonNull ResolutionSelector resolutionSelector) { throw new RuntimeException("Stub!"); }
    }
}
