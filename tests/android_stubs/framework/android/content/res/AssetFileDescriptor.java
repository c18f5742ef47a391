// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (android-stubs/content/res/__init__.pyi); kind, modifiers and return widths from the API reference.
// test_android_platform.py checks every member here against that package.
package android.content.res;

import java.io.Closeable;
import java.io.FileDescriptor;
import java.io.IOException;

public class AssetFileDescriptor implements Closeable {
    private AssetFileDescriptor() { throw new RuntimeException("Stub!"); }
    @Override public void close() throws IOException { throw new RuntimeException("Stub!"); }
    public long getDeclaredLength() { throw new RuntimeException("Stub!"); }
    public FileDescriptor getFileDescriptor() { throw new RuntimeException("Stub!"); }
    public long getStartOffset() { throw new RuntimeException("Stub!"); }
}
