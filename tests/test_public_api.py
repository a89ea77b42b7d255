"""The public surface of each package is declared, exact and importable (as RosettaSciIO tests it).

A name added to or dropped from a package's ``__all__`` is a change of the public
API: this test makes it a deliberate one. Importing the record layer must not drag
in the network stack (Pyro5) or the instruments.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PUBLIC = {
    "steerscope": ["EnergyAxis", "SignalKind", "SpectrumImage", "SteerscopeError", "load"],
    "steerscope.acquisition": [
        "ACQUISITIONS",
        "AcquisitionInfo",
        "MO_ACQUISITIONS",
        "ScoringInputs",
        "acquisition_info",
        "acquisition_scores",
        "acquisitions_for",
        "allowed_mask",
        "chebyshev_scores",
        "default_acquisition",
        "default_reference_point",
        "expected_hypervolume_improvement",
        "expected_improvement",
        "hypervolume",
        "max_variance",
        "multi_objective_scores",
        "pareto_front",
        "random_scores",
        "raster_scores",
        "register_acquisition",
        "score_candidates",
        "select_points",
        "space_filling_scores",
        "thompson",
        "ucb",
        "weighted_sum_scores",
    ],
    "steerscope.campaign": [
        "AddNoGoRegion",
        "AddPoints",
        "BudgetConfig",
        "Campaign",
        "CampaignConfig",
        "CampaignRunner",
        "CampaignSnapshot",
        "DatasetSource",
        "EventView",
        "FileSource",
        "GridSeeds",
        "InstanceSource",
        "InstrumentConfig",
        "Intervention",
        "ListSeeds",
        "Pause",
        "PauseConfig",
        "Pipeline",
        "PolicyConfig",
        "Proposal",
        "RandomSeeds",
        "RemoteSource",
        "Resume",
        "RunSteps",
        "RunSummary",
        "SetBudget",
        "SetDescriptor",
        "SetPolicy",
        "SetScalarizer",
        "StepResult",
        "Stop",
        "VetoPoints",
        "apply_config_changes",
        "build_instrument",
        "default_record_path",
        "describe_intervention",
        "discovery_curve",
        "fork_record",
        "intervention_from_dict",
        "load_config",
        "replay",
        "run_pipelined",
    ],
    "steerscope.data": ["SpectrumImage", "load"],
    "steerscope.datasets": [
        "Dataset",
        "bruker_tem",
        "core_loss_two_phase",
        "data_dir",
        "dataset_info",
        "fetch_real_data",
        "get_dataset",
        "jeol_fes",
        "list_datasets",
        "plasmonic_nanoparticles",
        "velox_aupdcu",
    ],
    "steerscope.descriptors": [
        "DescriptorSpec",
        "Descriptors",
        "MAX_PATCH_SIZE",
        "MIN_PATCH_SIZE",
        "extract_descriptors",
    ],
    "steerscope.instruments": [
        "DriverInfo",
        "FaultPlan",
        "InstrumentDisconnectedError",
        "InstrumentFaultError",
        "InstrumentTimeoutError",
        "Measurement",
        "Microscope",
        "MicroscopeServer",
        "Overview",
        "PixelRect",
        "RemoteMicroscope",
        "SafeMicroscope",
        "SafetyLimits",
        "SimulatedMicroscope",
        "driver_names",
        "make_driver",
        "register_driver",
        "serve",
        "serve_from_cli",
    ],
    "steerscope.instruments.drivers": [
        "AutoScriptMicroscope",
        "DigiScanCalibration",
        "GatanMicroscope",
        "NionMicroscope",
        "ScanFrame",
        "autoscript_to_pixels",
        "fractions_to_pixels",
        "nion_scan_frame",
        "pixels_to_autoscript",
        "pixels_to_fractions",
    ],
    "steerscope.models": [
        "DKLSurrogate",
        "ExactGPSurrogate",
        "ModelSpec",
        "MultiObjectiveSurrogate",
        "Surrogate",
        "WARM_STARTS",
        "make_surrogate",
    ],
    "steerscope.records": [
        "APPLICATION_ID",
        "CampaignRecord",
        "Decision",
        "EventRecord",
        "InterventionRecord",
        "MeasuredSpectra",
        "RecordStatus",
        "SCHEMA_VERSION",
    ],
    "steerscope.scalarizers": [
        "BackgroundSubtractedAreaSpec",
        "EdxLineSpec",
        "FORMULA_FUNCTIONS",
        "FormulaSpec",
        "MultiSpec",
        "PeakPositionSpec",
        "PeakProminenceSpec",
        "SCALARIZER_KINDS",
        "ScalarSpec",
        "ScalarizerBase",
        "ScalarizerSpec",
        "Window",
        "WindowMaxSpec",
        "WindowRatioSpec",
        "WindowScalarizerBase",
        "WindowSumSpec",
        "parse_scalarizer",
        "scalarizer_to_yaml",
        "target_map",
        "target_maps",
        "xray_line_energy_kev",
        "xray_line_fwhm_kev",
    ],
    "steerscope.sweeps": [
        "RunTask",
        "StepHook",
        "SweepResult",
        "SweepRun",
        "SweepSpec",
        "execute_run",
        "load_summary",
        "load_sweep",
        "markdown_table",
        "run_id_for",
        "run_sweep",
        "sweep_from_cli",
        "write_summary",
    ],
    "steerscope.testing": [
        "ModulePatcher",
        "beam_marker_image",
        "beam_marker_sample",
        "fake_autoscript",
        "fake_digitalmicrograph",
        "fake_microscope",
        "patched_modules",
        "tiny_spectrum_image",
    ],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names_are_exactly_the_declared_ones(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == PUBLIC[package]
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names what it does not define: {missing}"


def test_the_record_layer_imports_no_network_and_no_instrument() -> None:
    code = (
        "import sys, steerscope.records; "
        "bad = [m for m in sys.modules if m.startswith(('Pyro5', 'steerscope.instruments'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
