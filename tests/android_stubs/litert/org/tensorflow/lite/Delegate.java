// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Mirrors tensorflow/tensorflow tensorflow/lite/java/src/main/java/org/tensorflow/lite/Delegate.java
// (commit e35e6bdd).
package org.tensorflow.lite;

public interface Delegate {
    long getNativeHandle();
}
