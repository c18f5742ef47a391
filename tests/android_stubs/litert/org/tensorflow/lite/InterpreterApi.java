// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Mirrors google-ai-edge/LiteRT tflite/java/src/main/java/org/tensorflow/lite/InterpreterApi.java
// (commit e393dd5c; the 1.x Java API the app uses as LiteRT 1.4.2).
// Held member by member against tests/android_stubs/signatures/litert-v1.4.1.txt (LiteRT v1.4.1).
package org.tensorflow.lite;

public interface InterpreterApi extends AutoCloseable {
    @Override void close();
    Tensor getInputTensor(int inputIndex);
    Long getLastNativeInferenceDurationNanoseconds();
    Tensor getOutputTensor(int outputIndex);
    void run(Object input, Object output);
}
