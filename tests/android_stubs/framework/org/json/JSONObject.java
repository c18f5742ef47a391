// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. Android API 36 (android.jar), members as typed by chaquopy-stubs-android 36.20260406
// (org-stubs/json/__init__.pyi); kind, modifiers and return widths from the API reference. test_android_platform.py
// checks every member here against that package.
package org.json;

import java.util.Iterator;

public class JSONObject {
    public JSONObject(String json) throws JSONException { throw new RuntimeException("Stub!"); }
    public static final Object NULL = new Object();
    public Object get(String name) throws JSONException { throw new RuntimeException("Stub!"); }
    public Iterator<String> keys() { throw new RuntimeException("Stub!"); }
    public String optString(String name) { throw new RuntimeException("Stub!"); }
}
