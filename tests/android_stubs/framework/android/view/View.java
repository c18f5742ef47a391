// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (android-stubs/view/__init__.pyi); kind, modifiers and return widths from the API reference.
// test_android_platform.py checks every member here against that package.
package android.view;

import android.content.Context;
import androidx.annotation.Nullable;

public class View {
    public View(Context context) { throw new RuntimeException("Stub!"); }
    public static final int GONE = 8;
    public static final int VISIBLE = 0;
    public final Context getContext() { throw new RuntimeException("Stub!"); }
    @Nullable public Display getDisplay() { throw new RuntimeException("Stub!"); }
    public final int getHeight() { throw new RuntimeException("Stub!"); }
    @Nullable public ViewGroup.LayoutParams getLayoutParams() { throw new RuntimeException("Stub!"); }
    public int getVisibility() { throw new RuntimeException("Stub!"); }
    public final int getWidth() { throw new RuntimeException("Stub!"); }
    public void setLayoutParams(ViewGroup.LayoutParams params) { throw new RuntimeException("Stub!"); }
    public void setOnClickListener(@Nullable OnClickListener l) { throw new RuntimeException("Stub!"); }
    public void setVisibility(int visibility) { throw new RuntimeException("Stub!"); }

    public interface OnClickListener {
        void onClick(View v);
    }
}
