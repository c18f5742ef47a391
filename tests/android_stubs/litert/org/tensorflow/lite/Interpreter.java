// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Mirrors tensorflow/tensorflow
// tensorflow/lite/java/src/main/java/org/tensorflow/lite/Interpreter.java (commit 6b1457f1: final class, Options
// extending the API options with covariant returns), the API LiteRT 1.x kept under the same package.
// Held member by member against tests/android_stubs/signatures/litert-v1.4.1.txt (LiteRT v1.4.1).
package org.tensorflow.lite;

import java.nio.ByteBuffer;

public final class Interpreter implements InterpreterApi {
    public Interpreter(ByteBuffer byteBuffer, Options options) { throw new RuntimeException("Stub!"); }
    @Override public void close() { throw new RuntimeException("Stub!"); }
    @Override public Tensor getInputTensor(int inputIndex) { throw new RuntimeException("Stub!"); }
    @Override public Long getLastNativeInferenceDurationNanoseconds() { throw new RuntimeException("Stub!"); }
    @Override public Tensor getOutputTensor(int outputIndex) { throw new RuntimeException("Stub!"); }
    @Override public void run(Object input, Object output) { throw new RuntimeException("Stub!"); }

    public static class Options {
        public Options() { throw new RuntimeException("Stub!"); }
        public Options addDelegate(Delegate delegate) { throw new RuntimeException("Stub!"); }
        public int getNumThreads() { throw new RuntimeException("Stub!"); }
        public boolean getUseNNAPI() { throw new RuntimeException("Stub!"); }
        public boolean getUseXNNPACK() { throw new RuntimeException("Stub!"); }
        public Options setUseNNAPI(boolean useNNAPI) { throw new RuntimeException("Stub!"); }
        public Options setNumThreads(int numThreads) { throw new RuntimeException("Stub!"); }
        public Options setUseXNNPACK(boolean useXNNPACK) { throw new RuntimeException("Stub!"); }
    }
}
