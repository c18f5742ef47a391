// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (android-stubs/content/__init__.pyi); kind, modifiers and return widths from the API reference.
// test_android_platform.py checks every member here against that package.
package android.content;

import android.content.res.AssetManager;
import androidx.annotation.Nullable;
import java.io.File;

public abstract class Context {
    public Context() { throw new RuntimeException("Stub!"); }
    public abstract AssetManager getAssets();
    @Nullable public abstract File getExternalFilesDir(@Nullable String type);
    public abstract File getFilesDir();
    public final <T> T getSystemService(Class<T> serviceClass) { throw new RuntimeException("Stub!"); }
    public abstract String getPackageName();
    public final String getString(int resId) { throw new RuntimeException("Stub!"); }
    public final String getString(int resId, Object... formatArgs) { throw new RuntimeException("Stub!"); }
    public abstract void startActivity(Intent intent);
}
