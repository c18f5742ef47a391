// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. com.google.guava:listenablefuture 1.0 (through CameraX 1.6.1), members as typed by
// chaquopy-stubs-com-google-guava-listenablefuture 1.0.20260401
// (com-stubs/google/common/util/concurrent/__init__.pyi); test_android_platform.py checks every member here against
// that package.
package com.google.common.util.concurrent;

import java.util.concurrent.Executor;
import java.util.concurrent.Future;

public interface ListenableFuture<V> extends Future<V> {
    void addListener(Runnable listener, Executor executor);
}
