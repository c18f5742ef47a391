// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (android-stubs/content/res/__init__.pyi); kind, modifiers and return widths from the API reference.
// test_android_platform.py checks every member here against that package.
package android.content.res;

import androidx.annotation.Nullable;
import java.io.IOException;
import java.io.InputStream;

public final class AssetManager implements AutoCloseable {
    private AssetManager() { throw new RuntimeException("Stub!"); }
    @Override public void close() { throw new RuntimeException("Stub!"); }
    @Nullable public String[] list(String path) throws IOException { throw new RuntimeException("Stub!"); }
    public InputStream open(String fileName) throws IOException { throw new RuntimeException("Stub!"); }
    public AssetFileDescriptor openFd(String fileName) throws IOException { throw new RuntimeException("Stub!"); }
}
