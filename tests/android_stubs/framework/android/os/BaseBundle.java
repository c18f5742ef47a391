// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (android-stubs/os/__init__.pyi); kind, modifiers and return widths from the API reference.
// test_android_platform.py checks every member here against that package.
package android.os;

import androidx.annotation.Nullable;
import java.util.Set;

public class BaseBundle {
    BaseBundle() { throw new RuntimeException("Stub!"); }
    /** @deprecated API 33: use the type-safe getters. */
    @Deprecated @Nullable public Object get(String key) { throw new RuntimeException("Stub!"); }
    public Set<String> keySet() { throw new RuntimeException("Stub!"); }
}
