// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. androidx.core:core 1.16.0, members as typed by chaquopy-stubs-androidx-core-core 1.18.0.20260401
// (androidx-stubs/core/app/__init__.pyi); test_android_platform.py checks every member here against that package.
package androidx.core.app;

import android.app.Activity;
import androidx.annotation.NonNull;
import androidx.lifecycle.Lifecycle;
import androidx.lifecycle.LifecycleOwner;

public class ComponentActivity extends Activity implements LifecycleOwner {
    public ComponentActivity() { throw new RuntimeException("Stub!"); }
    @Override @NonNull public Lifecycle getLifecycle() { throw new RuntimeException("Stub!"); }
}
