// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (android-stubs/widget/__init__.pyi); kind, modifiers and return widths from the API reference.
// test_android_platform.py checks every member here against that package.
package android.widget;

import android.content.Context;
import android.view.View;
import android.view.ViewGroup;
import androidx.annotation.Nullable;

public abstract class AdapterView<T extends Adapter> extends ViewGroup {
    public AdapterView(Context context) { super(context); throw new RuntimeException("Stub!"); }
    public abstract T getAdapter();
    @Nullable public final OnItemSelectedListener getOnItemSelectedListener() { throw new RuntimeException("Stub!"); }
    public int getSelectedItemPosition() { throw new RuntimeException("Stub!"); }
    public abstract void setAdapter(T adapter);
    public void setOnItemSelectedListener(@Nullable OnItemSelectedListener listener) { throw new RuntimeException("Stub!"); }
    public abstract void setSelection(int position);

    public interface OnItemSelectedListener {
        void onItemSelected(AdapterView<?> parent, View view, int position, long id);
        void onNothingSelected(AdapterView<?> parent);
    }
}
