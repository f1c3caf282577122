"""Scenario files and profiles: YAML -> typed, validated objects."""

from .loader import LoadedScenario, Profiles, apply_override, load_profiles, load_scenario, load_test_profiles, parse_override
from .models import ApProfile, DeviceProfile, Scenario, ServiceProfile, TestProfile

__all__ = [
    "LoadedScenario", "Profiles", "Scenario", "DeviceProfile", "ApProfile", "TestProfile", "ServiceProfile",
    "load_scenario", "load_profiles", "load_test_profiles", "parse_override", "apply_override",
]
