// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Mirrors tensorflow/tensorflow
// tensorflow/lite/delegates/gpu/java/src/main/java/org/tensorflow/lite/gpu/GpuDelegate.java (commit 6d27deed).
package org.tensorflow.lite.gpu;

import java.io.Closeable;
import org.tensorflow.lite.Delegate;

public class GpuDelegate implements Delegate, Closeable {
    public GpuDelegate() { throw new RuntimeException("Stub!"); }
    public GpuDelegate(Options options) { throw new RuntimeException("Stub!"); }
    @Override public void close() { throw new RuntimeException("Stub!"); }
    @Override public long getNativeHandle() { throw new RuntimeException("Stub!"); }

    public static final class Options {
        public Options() { throw new RuntimeException("Stub!"); }
    }
}
