// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Mirrors tensorflow/tensorflow tensorflow/lite/java/src/main/java/org/tensorflow/lite/Tensor.java
// (commit 1fa9397d: dataType, numBytes, shape, quantizationParams and QuantizationParams); in LiteRT 1.x Tensor is
// an interface with the same methods.
// Held member by member against tests/android_stubs/signatures/litert-v1.4.1.txt (LiteRT v1.4.1).
package org.tensorflow.lite;

public interface Tensor {
    DataType dataType();
    String name();
    int numBytes();
    QuantizationParams quantizationParams();
    int[] shape();

    class QuantizationParams {
        public QuantizationParams(float scale, int zeroPoint) { throw new RuntimeException("Stub!"); }
        public float getScale() { throw new RuntimeException("Stub!"); }
        public int getZeroPoint() { throw new RuntimeException("Stub!"); }
    }
}
