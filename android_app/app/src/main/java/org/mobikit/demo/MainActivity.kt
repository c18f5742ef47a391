package org.mobikit.demo

import android.Manifest
import android.content.pm.PackageManager
import android.os.Bundle
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.core.resolutionselector.AspectRatioStrategy
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import org.mobikit.demo.core.BenchmarkRequest
import org.mobikit.demo.core.Contract
import org.mobikit.demo.core.Delegate
import org.mobikit.demo.core.FrameRateMeter
import org.mobikit.demo.core.ModelChoice
import org.mobikit.demo.core.ModelEntry
import org.mobikit.demo.core.ModelOrigin
import org.mobikit.demo.core.RgbaFrame
import org.mobikit.demo.core.THREAD_CHOICES
import org.mobikit.demo.core.chooseModel
import org.mobikit.demo.core.overlayText
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * The camera screen: live classification of the back camera's frames with the picked model, delegate and
 * thread count, the top classes, inference time and FPS drawn over the preview. `--es model <name>` picks the
 * model at launch.
 */
class MainActivity : ComponentActivity() {
    /** The model configuration the screen runs; changed from the pickers. */
    private data class Setup(val model: ModelEntry, val delegate: Delegate, val threads: Int)

    private lateinit var preview: PreviewView
    private lateinit var results: TextView
    private lateinit var modelPicker: Spinner
    private lateinit var delegatePicker: Spinner
    private lateinit var threadsPicker: Spinner
    private lateinit var store: ModelStore
    private lateinit var choice: ModelChoice
    private var setup: Setup? = null

    /** The one thread that opens, runs and closes interpreters (the GPU delegate needs a single thread). */
    private val inference: ExecutorService = Executors.newSingleThreadExecutor()
    private var classifier: Classifier? = null
    private val frameRate = FrameRateMeter()

    private val cameraPermission = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else results.setText(R.string.camera_permission_needed)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        preview = findViewById(R.id.preview)
        results = findViewById(R.id.results)
        modelPicker = findViewById(R.id.model_picker)
        delegatePicker = findViewById(R.id.delegate_picker)
        threadsPicker = findViewById(R.id.threads_picker)
        store = ModelStore(this)
        choice = chooseModel(store.pushedNames(), store.bundledNames(), intent.getStringExtra(Contract.EXTRA_MODEL))
        setUpPickers()
        if (choice.selected == null) results.setText(R.string.no_model)
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            cameraPermission.launch(Manifest.permission.CAMERA)
        }
    }

    override fun onDestroy() {
        super.onDestroy()
        inference.execute {
            classifier?.close()
            classifier = null
        }
        inference.shutdown()
    }

    private fun setUpPickers() {
        val modelLabels = choice.models.map {
            if (it.origin == ModelOrigin.BUNDLED) getString(R.string.bundled_model, it.name) else it.name
        }
        modelPicker.bind(modelLabels, choice.models.indexOf(choice.selected).coerceAtLeast(0))
        delegatePicker.bind(Delegate.entries.map { it.id }, Delegate.DEFAULT.ordinal)
        threadsPicker.bind(
            THREAD_CHOICES.map { getString(R.string.threads_choice, it) },
            THREAD_CHOICES.indexOf(BenchmarkRequest.DEFAULT_THREADS),
        )
    }

    private fun Spinner.bind(labels: List<String>, selected: Int) {
        adapter = ArrayAdapter(context, android.R.layout.simple_spinner_item, labels).apply {
            setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item)
        }
        setSelection(selected)
        onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) = applySetup()
            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }
    }

    /** Opens the picked configuration on the inference thread, unless it is the one already running. */
    private fun applySetup() {
        val model = choice.models.getOrNull(modelPicker.selectedItemPosition) ?: return
        val wanted = Setup(model, Delegate.entries[delegatePicker.selectedItemPosition],
            THREAD_CHOICES[threadsPicker.selectedItemPosition])
        if (wanted == setup) return
        setup = wanted
        results.text = getString(R.string.loading_model, wanted.model.name, wanted.delegate.id)
        inference.execute {
            classifier?.close()
            classifier = null
            frameRate.reset()
            try {
                classifier = Classifier.open(store, wanted.model, wanted.delegate, wanted.threads)
            } catch (failure: Exception) {
                val message = getString(R.string.model_failed, wanted.model.name, failure.message ?: failure.toString())
                runOnUiThread { results.text = message }
            }
        }
    }

    private fun startCamera() {
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({
            val resolution = ResolutionSelector.Builder()
                .setAspectRatioStrategy(AspectRatioStrategy.RATIO_4_3_FALLBACK_AUTO_STRATEGY)
                .build()
            val cameraPreview = Preview.Builder().setResolutionSelector(resolution).build()
            cameraPreview.setSurfaceProvider(preview.surfaceProvider)
            val analysis = ImageAnalysis.Builder()
                .setResolutionSelector(resolution)
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            analysis.setAnalyzer(inference) { image -> image.use(::analyze) }
            val provider = providerFuture.get()
            provider.unbindAll()
            provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, cameraPreview, analysis)
        }, ContextCompat.getMainExecutor(this))
    }

    /** Runs on the inference thread; the frame is upright-rotated, cropped and quantized by core. */
    private fun analyze(image: ImageProxy) {
        val current = classifier ?: return
        val plane = image.planes[0]
        val frame = RgbaFrame(plane.buffer, image.width, image.height, plane.rowStride, image.imageInfo.rotationDegrees)
        val classification = current.classify(frame)
        val text = overlayText(classification.predictions, classification.inferenceMs,
            frameRate.frame(System.nanoTime()), listOfNotNull(choice.note, current.note))
        runOnUiThread { results.text = text }
    }
}
