// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (android-stubs/content/__init__.pyi); kind, modifiers and return widths from the API reference.
// test_android_platform.py checks every member here against that package.
package android.content;

import android.net.Uri;
import android.os.Bundle;
import androidx.annotation.Nullable;

public class Intent {
    public Intent(String action, Uri uri) { throw new RuntimeException("Stub!"); }
    @Nullable public Bundle getExtras() { throw new RuntimeException("Stub!"); }
    @Nullable public String getStringExtra(String name) { throw new RuntimeException("Stub!"); }
}
