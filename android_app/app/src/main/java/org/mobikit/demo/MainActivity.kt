package org.mobikit.demo

import android.Manifest
import android.content.ActivityNotFoundException
import android.content.Intent
import android.content.pm.PackageManager
import android.hardware.display.DisplayManager
import android.net.Uri
import android.os.Bundle
import android.provider.Settings
import android.util.Log
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
import org.mobikit.demo.core.CameraStarter
import org.mobikit.demo.core.Contract
import org.mobikit.demo.core.CropGeometry
import org.mobikit.demo.core.Delegate
import org.mobikit.demo.core.FrameAnalyzer
import org.mobikit.demo.core.FrameRateMeter
import org.mobikit.demo.core.ImportOutcome
import org.mobikit.demo.core.ModelChoice
import org.mobikit.demo.core.ModelEntry
import org.mobikit.demo.core.ModelOrigin
import org.mobikit.demo.core.PermissionStep
import org.mobikit.demo.core.RgbaFrame
import org.mobikit.demo.core.RotationTracker
import org.mobikit.demo.core.SessionHolder
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
import org.mobikit.demo.core.modelReportLine
import org.mobikit.demo.core.overlayText
import org.mobikit.demo.core.refreshModels
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * The camera screen: live classification of the camera's frames with the picked model, delegate and thread
 * count; the top classes, inference time, FPS and the delegate's node coverage drawn over the preview, and a box
 * marking the square the model sees.
 *
 * `mobikit deploy` starts it with `--es model <name> --es sha256 <digest>`. It is `singleTask` (manifest), so that
 * intent reaches the running screen through [onNewIntent] whether the app is stopped, in the background or in
 * front; the screen imports the verified model into internal storage and switches to it, and logs one
 * `MOBIKIT_MODEL` line saying what it now runs (or why it refused). Rotation does not recreate it (manifest
 * `configChanges`); a display listener tells the camera every rotation, 180° turns included. While stopped it holds
 * no interpreter or delegate.
 */
class MainActivity : ComponentActivity() {
    /** The model configuration the screen runs; changed from the pickers. A new digest is a new setup. */
    private data class Setup(val model: ModelEntry, val delegate: Delegate, val threads: Int)

    private lateinit var preview: PreviewView
    private lateinit var modelRegion: View
    private lateinit var results: TextView
    private lateinit var cameraAction: Button
    private lateinit var modelPicker: Spinner
    private lateinit var delegatePicker: Spinner
    private lateinit var threadsPicker: Spinner
    private lateinit var store: ModelStore
    private lateinit var displays: DisplayManager

    // Main thread only.
    private var choice: ModelChoice? = null
    private var setup: Setup? = null
    private val camera = CameraStarter()
    private var analysis: ImageAnalysis? = null
    private var cameraPreview: Preview? = null
    private var rotation: RotationTracker? = null
    private var regionBox: ViewBox? = null
    private var bindNote: String? = null  // which camera runs, when not the back one
    private var cameraNote: String? = null

    /** The `result_id` of the deploy whose model is being opened: echoed in the next MOBIKIT_MODEL line. */
    @Volatile
    private var pendingRequest: String? = null

    /** Notes the overlay repeats under every frame's answer (model not found, camera fallback); read by frames. */
    @Volatile
    private var screenNotes: List<String> = emptyList()

    /** The one thread that opens, runs and closes interpreters (the GPU delegate needs a single thread). */
    private val inference: ExecutorService = Executors.newSingleThreadExecutor()

    /** The open classifier, on the inference thread only: closed while the screen is stopped. */
    private val sessions = SessionHolder<Setup, Classifier> { wanted ->
        Classifier.open(store, wanted.model, wanted.delegate, wanted.threads)
    }
    private val frameRate = FrameRateMeter()
    private val analyzer = FrameAnalyzer<ImageProxy, Classifier, FrameOutcome>(
        current = { sessions.session },
        classify = ::classify,
        publish = ::show,
    )

    private val cameraPermission = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        onPermissionAnswer(granted)
    }

    private val displayListener = object : DisplayManager.DisplayListener {
        override fun onDisplayAdded(displayId: Int) = Unit
        override fun onDisplayRemoved(displayId: Int) = Unit
        override fun onDisplayChanged(displayId: Int) {
            val rotation = preview.display?.rotation ?: return
            val changed = this@MainActivity.rotation?.onDisplayChanged(rotation) ?: return
            analysis?.targetRotation = changed
            cameraPreview?.targetRotation = changed
        }
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
        displays = getSystemService(DisplayManager::class.java)
        delegatePicker.bind(Delegate.entries.map { it.id }, Delegate.DEFAULT.ordinal)
        threadsPicker.bind(
            THREAD_CHOICES.map { getString(R.string.threads_choice, it) },
            THREAD_CHOICES.indexOf(BenchmarkRequest.DEFAULT_THREADS),
        )
        if (!hasCameraPermission()) cameraPermission.launch(Manifest.permission.CAMERA)
        takeModelRequest(intent)
    }

    /** A deploy while the screen exists (in front or in the background): the intent arrives here. */
    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        setIntent(intent)
        takeModelRequest(intent)
    }

    override fun onStart() {
        super.onStart()
        displays.registerDisplayListener(displayListener, null)
        inference.execute { reportOpening { sessions.start() } }
    }

    /** Every return to the screen rescans the models and retries the camera if it failed before. */
    override fun onResume() {
        super.onResume()
        scanModels()
        if (hasCameraPermission()) startCamera()
    }

    override fun onStop() {
        super.onStop()
        displays.unregisterDisplayListener(displayListener)
        inference.execute { sessions.stop() }
    }

    override fun onDestroy() {
        super.onDestroy()
        analyzer.shutDown()
        analysis?.clearAnalyzer()
        inference.execute { sessions.stop() }
        inference.shutdown()
    }

    // ------------------------------------------------------------------------------------------------- models

    /**
     * A launch or new intent naming a model: import it (when the deploy sent its digest), then select it. A refused
     * import stays on screen with its reason and is logged, so the deploy that asked hears why.
     */
    private fun takeModelRequest(request: Intent) {
        val name = request.getStringExtra(Contract.EXTRA_MODEL)
        val sha256 = request.getStringExtra(Contract.EXTRA_SHA256)
        val requestId = request.getStringExtra(Contract.EXTRA_RESULT_ID)
        val delegate = selectedDelegate()
        inference.execute {
            store.prepareDeployFolder()
            val refusal = if (name != null && sha256 != null) {
                val outcome = try {
                    store.importDeployed(name, sha256)
                } catch (failure: Exception) {
                    ImportOutcome.Refused(failureText(failure))
                }
                (outcome as? ImportOutcome.Refused)?.reason
            } else {
                null
            }
            refusal?.let { Log.w(Contract.LOGCAT_TAG, modelReportLine(name, null, delegate, null, it, requestId)) }
            val installed = store.installed()
            val bundled = store.bundledNames()
            runOnUiThread {
                val requested = if (refusal == null) name else null
                if (requested != null) pendingRequest = requestId
                val updated = if (requested == null && choice != null) {
                    refreshModels(checkNotNull(choice), installed, bundled)
                } else {
                    chooseModel(installed, bundled, requested)
                }
                showModels(updated.copy(note = refusal ?: updated.note), force = requested != null)
            }
        }
    }

    /** Lists the models off the main thread, then shows them, keeping the model on screen. */
    private fun scanModels() {
        inference.execute {
            val installed = store.installed()
            val bundled = store.bundledNames()
            runOnUiThread {
                val current = choice ?: return@runOnUiThread
                showModels(refreshModels(current, installed, bundled), force = false)
            }
        }
    }

    private fun showModels(updated: ModelChoice, force: Boolean) {
        val unchanged = updated.models == choice?.models && updated.selected == choice?.selected
        choice = updated
        updateNotes()
        if (unchanged && !force) return
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

    private fun selectedDelegate(): Delegate = Delegate.entries[delegatePicker.selectedItemPosition]

    /** Opens the picked configuration on the inference thread, unless it is the one already running. */
    private fun applySetup() {
        val model = choice?.models?.getOrNull(modelPicker.selectedItemPosition) ?: return
        choice = choice?.copy(selected = model)  // a rescan keeps what the user picked
        val wanted = Setup(model, selectedDelegate(), THREAD_CHOICES[threadsPicker.selectedItemPosition])
        if (wanted == setup) {
            if (pendingRequest != null) inference.execute { reportOpening {} }  // a deploy asks what runs
            return
        }
        setup = wanted
        results.text = getString(R.string.loading_model, wanted.model.name, wanted.delegate.id)
        inference.execute {
            frameRate.reset()
            reportOpening { sessions.use(wanted) }
        }
    }

    /** Runs an open of the screen's session and logs what runs now (or why nothing does). Inference thread. */
    private fun reportOpening(open: () -> Unit) {
        val requestId = pendingRequest.also { pendingRequest = null }
        try {
            open()
        } catch (failure: Throwable) {
            if (!isReportable(failure)) throw failure
            val wanted = sessions.setup  // the setup that failed to open
            val name = wanted?.model?.name
            val message = getString(R.string.model_failed, name, failureText(failure))
            Log.w(Contract.LOGCAT_TAG, modelReportLine(name, wanted?.model, wanted?.delegate ?: Delegate.DEFAULT,
                null, failureText(failure), requestId))
            runOnUiThread { results.text = message }
            return
        }
        val running = sessions.session ?: return
        Log.i(Contract.LOGCAT_TAG, modelReportLine(running.entry.name, running.entry,
            sessions.setup?.delegate ?: Delegate.DEFAULT, running.report, null, requestId))
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

    /** Binds preview and analysis to the first camera that works; any failure is shown and retried on resume. */
    private fun startCamera() {
        if (!camera.shouldBind()) return
        cameraAction.visibility = View.GONE
        val providerFuture = try {
            ProcessCameraProvider.getInstance(this)
        } catch (failure: Exception) {
            cameraFailed(cameraUnavailable(failureText(failure)))
            return
        }
        providerFuture.addListener({
            try {
                bindCamera(providerFuture.get())
            } catch (failure: Exception) {
                cameraFailed(cameraUnavailable(failureText(failure.cause ?: failure)))
            }
        }, ContextCompat.getMainExecutor(this))
    }

    private fun cameraFailed(message: String) {
        camera.failed()
        showCameraProblem(message)
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
        frames.setAnalyzer(inference, analyzer::analyze)
        val outcome = bindFirstCamera(CAMERA_PREFERENCE) { lens ->
            provider.unbindAll()
            val bound = provider.bindToLifecycle(this, lens.selector(), shown, frames)
            bound.cameraInfo.cameraState.observe(this) { state -> onCameraState(state.error?.code) }
        }
        if (outcome.lens == null) {
            frames.clearAnalyzer()
            cameraFailed(outcome.message.orEmpty())
            return
        }
        camera.bound()
        analysis = frames
        cameraPreview = shown
        rotation = RotationTracker(frames.targetRotation)
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

    /** One frame through the model (inference thread; core's [FrameAnalyzer] closes the frame on every path). */
    private fun classify(current: Classifier, image: ImageProxy): FrameOutcome {
        val plane = image.planes[0]
        val frame = RgbaFrame(plane.buffer, image.width, image.height, plane.rowStride, plane.pixelStride,
            image.imageInfo.rotationDegrees)
        val classification = current.classify(frame)
        val text = overlayText(classification.predictions, classification.inferenceMs,
            frameRate.frame(System.nanoTime()), screenNotes + listOfNotNull(current.note))
        return FrameOutcome(text, frame.uprightWidth, frame.uprightHeight,
            current.cropOf(frame.uprightWidth, frame.uprightHeight))
    }

    /** A frame's answer, or its failure with the notes; the camera keeps running and the next frame retries. */
    private fun show(outcome: Result<FrameOutcome>) {
        val shown = outcome.getOrElse { FrameOutcome(frameFailureOverlay(it, screenNotes), 0, 0, null) }
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
