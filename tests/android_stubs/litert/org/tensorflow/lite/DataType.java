// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Mirrors tensorflow/tensorflow tensorflow/lite/java/src/main/java/org/tensorflow/lite/DataType.java
// (the element types of the 1.x API).
package org.tensorflow.lite;

public enum DataType { FLOAT32, INT32, UINT8, INT64, STRING, BOOL, INT16, INT8 }
