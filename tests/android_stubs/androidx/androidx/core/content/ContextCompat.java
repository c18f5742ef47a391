// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. androidx.core:core 1.16.0, members as typed by chaquopy-stubs-androidx-core-core 1.18.0.20260401
// (androidx-stubs/core/content/__init__.pyi); test_android_platform.py checks every member here against that
// package.
package androidx.core.content;

import android.content.Context;
import androidx.annotation.NonNull;
import java.util.concurrent.Executor;

public class ContextCompat {
    protected ContextCompat() { throw new RuntimeException("Stub!"); }
    public static int checkSelfPermission(@NonNull Context context, @NonNull String permission) { throw new RuntimeException("Stub!"); }
    @NonNull public static Executor getMainExecutor(@NonNull Context context) { throw new RuntimeException("Stub!"); }
}
