// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Mirrors tensorflow/tensorflow tensorflow/lite/java/src/main/java/org/tensorflow/lite/DataType.java
// (the element types of the 1.x API).
// Held member by member against tests/android_stubs/signatures/litert-v1.4.1.txt (LiteRT v1.4.1).
package org.tensorflow.lite;

public enum DataType { FLOAT32, INT32, UINT8, INT64, STRING, BOOL, INT16, INT8 }
