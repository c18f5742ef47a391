// Type-check stub of android_app (tests/test_android_platform.py): names, types, nullability and arity,
// no behaviour. androidx.annotation:annotation (the nullability annotations Kotlin reads as strict;
// androidx/androidx annotation/annotation/api/current.txt)
package androidx.annotation;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

@Retention(RetentionPolicy.CLASS)
@Target({ElementType.METHOD, ElementType.PARAMETER, ElementType.FIELD, ElementType.LOCAL_VARIABLE,
         ElementType.ANNOTATION_TYPE, ElementType.PACKAGE})
public @interface NonNull {
}
