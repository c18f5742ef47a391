package org.mobikit.demo.core

import java.nio.Buffer
import java.nio.ByteBuffer

/**
 * Rewinds through the [Buffer] supertype. Compiled against Java 9+ or a recent android.jar, `byteBuffer.rewind()`
 * binds to the covariant ByteBuffer override, which older Android runtimes do not have.
 */
fun ByteBuffer.rewound(): ByteBuffer = also { val plain: Buffer = it; plain.rewind() }

/** [rewound]'s counterpart for clear(): position 0, limit = capacity. */
fun ByteBuffer.cleared(): ByteBuffer = also { val plain: Buffer = it; plain.clear() }
