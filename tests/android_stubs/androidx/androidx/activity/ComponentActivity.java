// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. androidx.activity:activity 1.10.1, members as typed by chaquopy-stubs-androidx-activity-activity
// 1.13.0.20260401 (androidx-stubs/activity/__init__.pyi); test_android_platform.py checks every member here against
// that package.
package androidx.activity;

import android.content.res.Configuration;
import android.os.Bundle;
import androidx.activity.result.ActivityResultCallback;
import androidx.activity.result.ActivityResultCaller;
import androidx.activity.result.ActivityResultLauncher;
import androidx.activity.result.contract.ActivityResultContract;
import androidx.annotation.NonNull;
import androidx.annotation.Nullable;
import androidx.lifecycle.LifecycleOwner;

public class ComponentActivity extends androidx.core.app.ComponentActivity
        implements ActivityResultCaller, LifecycleOwner {
    public ComponentActivity() { throw new RuntimeException("Stub!"); }
    @Override public void onConfigurationChanged(@NonNull Configuration newConfig) { throw new RuntimeException("Stub!"); }
    @Override protected void onCreate(@Nullable Bundle savedInstanceState) { throw new RuntimeException("Stub!"); }
    @Override @NonNull public final <I, O> ActivityResultLauncher<I> registerForActivityResult(
            @NonNull ActivityResultContract<I, O> contract, @NonNull ActivityResultCallback<O> callback) { throw new RuntimeException("Stub!"); }
    @Override public void setContentView(int layoutResID) { throw new RuntimeException("Stub!"); }
}
