package org.mobikit.demo

import android.Manifest
import android.content.ActivityNotFoundException
import android.content.Intent
import android.content.pm.PackageManager
import android.content.res.Configuration
import android.net.Uri
import android.os.Bundle
import android.provider.Settings
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.FrameLayout
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
import org.mobikit.demo.core.CAMERA_PREFERENCE
import org.mobikit.demo.core.CameraLens
import org.mobikit.demo.core.Contract
import org.mobikit.demo.core.CropGeometry
import org.mobikit.demo.core.Delegate
import org.mobikit.demo.core.FrameRateMeter
import org.mobikit.demo.core.ModelChoice
import org.mobikit.demo.core.ModelEntry
import org.mobikit.demo.core.ModelOrigin
import org.mobikit.demo.core.PermissionStep
import org.mobikit.demo.core.RgbaFrame
import org.mobikit.demo.core.THREAD_CHOICES
import org.mobikit.demo.core.ViewBox
import org.mobikit.demo.core.afterPermissionAnswer
import org.mobikit.demo.core.bindFirstCamera
import org.mobikit.demo.core.cameraStateProblem
import org.mobikit.demo.core.cameraUnavailable
import org.mobikit.demo.core.chooseModel
import org.mobikit.demo.core.failureText
import org.mobikit.demo.core.frameFailureOverlay
import org.mobikit.demo.core.isReportable
import org.mobikit.demo.core.modelRegionOnPreview
import org.mobikit.demo.core.overlayText
import org.mobikit.demo.core.refreshModels
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * The camera screen: live classification of the camera's frames with the picked model, delegate and thread
 * count; the top classes, inference time and FPS drawn over the preview, and a box marking the square the model
 * sees. `--es model <name>` picks the model at launch. Rotation does not recreate it (manifest `configChanges`),
 * so the model and the GPU delegate stay loaded; the camera is told the new rotation instead.
 */
class MainActivity : ComponentActivity() {
    /** The model configuration the screen runs; changed from the pickers. */
    private data class Setup(val model: ModelEntry, val delegate: Delegate, val threads: Int)

    private lateinit var preview: PreviewView
    private lateinit var modelRegion: View
    private lateinit var results: TextView
    private lateinit var cameraAction: Button
    private lateinit var modelPicker: Spinner
    private lateinit var delegatePicker: Spinner
    private lateinit var threadsPicker: Spinner
    private lateinit var store: ModelStore

    // Main thread only.
    private var choice: ModelChoice? = null
    private var setup: Setup? = null
    private var cameraStarted = false
    private var analysis: ImageAnalysis? = null
    private var cameraPreview: Preview? = null
    private var regionBox: ViewBox? = null
    private var bindNote: String? = null  // which camera runs, when not the back one
    private var cameraNote: String? = null

    /** Notes the overlay repeats under every frame's answer (model not found, camera fallback); read by frames. */
    @Volatile
    private var screenNotes: List<String> = emptyList()

    /** The one thread that opens, runs and closes interpreters (the GPU delegate needs a single thread). */
    private val inference: ExecutorService = Executors.newSingleThreadExecutor()
    private var classifier: Classifier? = null
    private val frameRate = FrameRateMeter()

    private val cameraPermission = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        onPermissionAnswer(granted)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        preview = findViewById(R.id.preview)
        modelRegion = findViewById(R.id.model_region)
        results = findViewById(R.id.results)
        cameraAction = findViewById(R.id.camera_action)
        modelPicker = findViewById(R.id.model_picker)
        delegatePicker = findViewById(R.id.delegate_picker)
        threadsPicker = findViewById(R.id.threads_picker)
        preview.scaleType = PreviewView.ScaleType.FIT_CENTER
        store = ModelStore(this)
        delegatePicker.bind(Delegate.entries.map { it.id }, Delegate.DEFAULT.ordinal)
        threadsPicker.bind(
            THREAD_CHOICES.map { getString(R.string.threads_choice, it) },
            THREAD_CHOICES.indexOf(BenchmarkRequest.DEFAULT_THREADS),
        )
        if (hasCameraPermission()) startCamera() else cameraPermission.launch(Manifest.permission.CAMERA)
    }

    /** Every return to the screen rescans the models (deploy may have pushed one) and retries the camera. */
    override fun onResume() {
        super.onResume()
        scanModels()
        if (hasCameraPermission()) startCamera()
    }

    override fun onConfigurationChanged(newConfig: Configuration) {
        super.onConfigurationChanged(newConfig)
        val rotation = preview.display?.rotation ?: return
        analysis?.targetRotation = rotation
        cameraPreview?.targetRotation = rotation
    }

    override fun onDestroy() {
        super.onDestroy()
        analysis?.clearAnalyzer()
        inference.execute { closeClassifier() }
        inference.shutdown()
    }

    // ------------------------------------------------------------------------------------------------- models

    /** Lists the models off the main thread, then shows them; the first scan honours the launch extra. */
    private fun scanModels() {
        val requested = intent.getStringExtra(Contract.EXTRA_MODEL)
        inference.execute {
            val pushed = store.pushedNames()
            val bundled = store.bundledNames()
            runOnUiThread {
                val current = choice
                showModels(if (current == null) chooseModel(pushed, bundled, requested)
                else refreshModels(current, pushed, bundled))
            }
        }
    }

    private fun showModels(updated: ModelChoice) {
        val unchanged = updated.models == choice?.models && updated.selected == choice?.selected
        choice = updated
        updateNotes()
        if (unchanged) return
        val labels = updated.models.map {
            if (it.origin == ModelOrigin.BUNDLED) getString(R.string.bundled_model, it.name) else it.name
        }
        modelPicker.bind(labels, updated.models.indexOf(updated.selected).coerceAtLeast(0))
        if (updated.selected == null) results.setText(R.string.no_model) else applySetup()
    }

    private fun Spinner.bind(labels: List<String>, selected: Int) {
        adapter = ArrayAdapter(context, android.R.layout.simple_spinner_item, labels).apply {
            setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item)
        }
        setSelection(selected, false)
        onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) = applySetup()
            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }
    }

    /** Opens the picked configuration on the inference thread, unless it is the one already running. */
    private fun applySetup() {
        val model = choice?.models?.getOrNull(modelPicker.selectedItemPosition) ?: return
        choice = choice?.copy(selected = model)  // a rescan keeps what the user picked
        val wanted = Setup(model, Delegate.entries[delegatePicker.selectedItemPosition],
            THREAD_CHOICES[threadsPicker.selectedItemPosition])
        if (wanted == setup) return
        setup = wanted
        results.text = getString(R.string.loading_model, wanted.model.name, wanted.delegate.id)
        inference.execute {
            closeClassifier()
            frameRate.reset()
            try {
                classifier = Classifier.open(store, wanted.model, wanted.delegate, wanted.threads)
            } catch (failure: Throwable) {
                if (!isReportable(failure)) throw failure
                val message = getString(R.string.model_failed, wanted.model.name, failureText(failure))
                runOnUiThread { results.text = message }
            }
        }
    }

    private fun closeClassifier() {
        classifier?.close()
        classifier = null
    }

    // ------------------------------------------------------------------------------------------------- camera

    private fun hasCameraPermission(): Boolean =
        ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED

    private fun onPermissionAnswer(granted: Boolean) {
        val showRationale = shouldShowRequestPermissionRationale(Manifest.permission.CAMERA)
        when (afterPermissionAnswer(granted, showRationale)) {
            PermissionStep.START_CAMERA -> startCamera()
            PermissionStep.EXPLAIN_AND_ASK_AGAIN -> explainPermission(R.string.camera_permission_ask) {
                cameraPermission.launch(Manifest.permission.CAMERA)
            }
            PermissionStep.EXPLAIN_AND_OPEN_SETTINGS -> explainPermission(R.string.camera_permission_settings) {
                openAppSettings()
            }
        }
    }

    private fun explainPermission(actionLabel: Int, action: () -> Unit) {
        results.setText(R.string.camera_permission_needed)
        cameraAction.setText(actionLabel)
        cameraAction.setOnClickListener { action() }
        cameraAction.visibility = View.VISIBLE
    }

    private fun openAppSettings() {
        val details = Intent(Settings.ACTION_APPLICATION_DETAILS_SETTINGS,
            Uri.fromParts(PACKAGE_SCHEME, packageName, null))
        try {
            startActivity(details)
        } catch (missing: ActivityNotFoundException) {
            results.text = failureText(missing)
        }
    }

    /** Binds preview and analysis to the first camera that works; any failure is shown, never thrown. */
    private fun startCamera() {
        if (cameraStarted) return
        cameraStarted = true
        cameraAction.visibility = View.GONE
        val providerFuture = try {
            ProcessCameraProvider.getInstance(this)
        } catch (failure: Exception) {
            showCameraProblem(cameraUnavailable(failureText(failure)))
            return
        }
        providerFuture.addListener({
            try {
                bindCamera(providerFuture.get())
            } catch (failure: Exception) {
                showCameraProblem(cameraUnavailable(failureText(failure.cause ?: failure)))
            }
        }, ContextCompat.getMainExecutor(this))
    }

    private fun bindCamera(provider: ProcessCameraProvider) {
        val resolution = ResolutionSelector.Builder()
            .setAspectRatioStrategy(AspectRatioStrategy.RATIO_4_3_FALLBACK_AUTO_STRATEGY)
            .build()
        val shown = Preview.Builder().setResolutionSelector(resolution).build()
        shown.setSurfaceProvider(preview.surfaceProvider)
        val frames = ImageAnalysis.Builder()
            .setResolutionSelector(resolution)
            .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
            .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
            .build()
        frames.setAnalyzer(inference) { image -> image.use(::analyze) }
        val outcome = bindFirstCamera(CAMERA_PREFERENCE) { lens ->
            provider.unbindAll()
            val camera = provider.bindToLifecycle(this, lens.selector(), shown, frames)
            camera.cameraInfo.cameraState.observe(this) { state -> onCameraState(state.error?.code) }
        }
        if (outcome.lens == null) {
            frames.clearAnalyzer()
            showCameraProblem(outcome.message.orEmpty())
            return
        }
        analysis = frames
        cameraPreview = shown
        bindNote = outcome.message
        onCameraState(null)
    }

    /** A bound camera can still fail to open (another app holds it) and recover later: say so while it lasts. */
    private fun onCameraState(errorCode: Int?) {
        if (errorCode != null) {
            showCameraProblem(cameraStateProblem(errorCode))
        } else {
            cameraNote = bindNote
            updateNotes()
        }
    }

    private fun showCameraProblem(message: String) {
        cameraNote = message
        updateNotes()
        results.text = message
    }

    private fun updateNotes() {
        screenNotes = listOfNotNull(choice?.note, cameraNote)
    }

    /** Runs on the inference thread; a failing frame is reported on the overlay and the next one is tried. */
    private fun analyze(image: ImageProxy) {
        val current = classifier ?: return
        val notes = screenNotes
        val shown = try {
            val plane = image.planes[0]
            val frame = RgbaFrame(plane.buffer, image.width, image.height, plane.rowStride, plane.pixelStride,
                image.imageInfo.rotationDegrees)
            val classification = current.classify(frame)
            val text = overlayText(classification.predictions, classification.inferenceMs,
                frameRate.frame(System.nanoTime()), notes + listOfNotNull(current.note))
            FrameOutcome(text, frame.uprightWidth, frame.uprightHeight,
                current.cropOf(frame.uprightWidth, frame.uprightHeight))
        } catch (failure: Throwable) {
            if (!isReportable(failure)) throw failure
            FrameOutcome(frameFailureOverlay(failure, notes), 0, 0, null)
        }
        runOnUiThread {
            results.text = shown.text
            shown.crop?.let { markModelRegion(shown.uprightWidth, shown.uprightHeight, it) }
        }
    }

    /** What one frame puts on screen: the overlay text and, when it was classified, the square the model saw. */
    private class FrameOutcome(val text: String, val uprightWidth: Int, val uprightHeight: Int,
                               val crop: CropGeometry?)

    /** Moves the box over the preview to the square the model sees (main thread). */
    private fun markModelRegion(frameWidth: Int, frameHeight: Int, crop: CropGeometry) {
        if (preview.width == 0 || preview.height == 0) return
        val box = modelRegionOnPreview(preview.width, preview.height, frameWidth, frameHeight, crop)
        if (box == regionBox) return
        regionBox = box
        modelRegion.layoutParams = FrameLayout.LayoutParams(box.width, box.height).apply {
            leftMargin = box.left
            topMargin = box.top
        }
        modelRegion.visibility = View.VISIBLE
    }

    private companion object {
        /** The URI scheme of an app's settings page (`package:<name>`). */
        const val PACKAGE_SCHEME = "package"
    }
}

private fun CameraLens.selector(): CameraSelector = when (this) {
    CameraLens.BACK -> CameraSelector.DEFAULT_BACK_CAMERA
    CameraLens.FRONT -> CameraSelector.DEFAULT_FRONT_CAMERA
}
