// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Mirrors androidx/androidx camera/camera-view/api/current.txt (commit 0893b4f5, signature format
// 4.0); the members used have these signatures since 1.0, so also in the app's 1.6.1.
package androidx.camera.view;

import android.content.Context;
import android.widget.FrameLayout;
import androidx.annotation.NonNull;
import androidx.camera.core.Preview;

public final class PreviewView extends FrameLayout {
    public PreviewView(@NonNull Context context) { super(context); throw new RuntimeException("Stub!"); }
    @NonNull public ScaleType getScaleType() { throw new RuntimeException("Stub!"); }
    @NonNull public Preview.SurfaceProvider getSurfaceProvider() { throw new RuntimeException("Stub!"); }
    public void setScaleType(@NonNull ScaleType scaleType) { throw new RuntimeException("Stub!"); }

    public enum ScaleType { FILL_CENTER, FILL_END, FILL_START, FIT_CENTER, FIT_END, FIT_START }
}
