// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (android-stubs/hardware/display/__init__.pyi); kind, modifiers and return widths from the API reference.
// test_android_platform.py checks every member here against that package.
package android.hardware.display;

import android.os.Handler;

public final class DisplayManager {
    private DisplayManager() { throw new RuntimeException("Stub!"); }
    public void registerDisplayListener(DisplayListener listener, Handler handler) { throw new RuntimeException("Stub!"); }
    public void unregisterDisplayListener(DisplayListener listener) { throw new RuntimeException("Stub!"); }

    public interface DisplayListener {
        void onDisplayAdded(int displayId);
        void onDisplayChanged(int displayId);
        void onDisplayRemoved(int displayId);
    }
}
