from simulator.errors import Problem
from simulator.scenario import load_scenario
from simulator.scenario.located import load_yaml, locate
from simulator.scenario.templates import expand_templates, letter


def test_letters_like_spreadsheet_columns():
    assert [letter(i) for i in (0, 1, 25, 26, 27, 51, 52)] == ["A", "B", "Z", "AA", "AB", "AZ", "BA"]


DOC = """\
templates:
  classrooms:
    y9: {ap: aruba-535, devices: {chromebook: 26, ipad: 2}}
  sites:
    school:
      uplink: {down: 1 Gbit/s, up: 1 Gbit/s}
      classrooms:
        - {template: y9, count: 2, name: "9{letter}"}
sites:
  - {template: school, count: 3, name: "s{n:02d}"}
  - template: school
    name: special
    uplink: {down: 50 Mbit/s, up: 10 Mbit/s}
    classrooms:
      - {template: y9, name: 9X, devices: {chromebook: 10}}
"""


def test_expansion_counts_names_and_overrides():
    problems: list[Problem] = []
    doc = expand_templates(load_yaml(DOC, "t.yaml"), problems)
    assert problems == []
    assert "templates" not in doc
    names = [s["name"] for s in doc["sites"]]
    assert names == ["s01", "s02", "s03", "special"]
    assert [c["name"] for c in doc["sites"][0]["classrooms"]] == ["9A", "9B"]
    assert doc["sites"][3]["uplink"]["down"] == "50 Mbit/s"
    assert doc["sites"][3]["classrooms"][0]["devices"] == {"chromebook": 10}
    assert doc["sites"][3]["classrooms"][0]["ap"] == "aruba-535"
    # copies are independent
    doc["sites"][0]["classrooms"][0]["devices"]["chromebook"] = 1
    assert doc["sites"][1]["classrooms"][0]["devices"]["chromebook"] == 26


def test_expanded_values_keep_the_template_line():
    problems: list[Problem] = []
    doc = expand_templates(load_yaml(DOC, "t.yaml"), problems)
    mark = locate(doc, ("sites", 2, "classrooms", 1, "ap"))
    assert (mark.file, mark.line) == ("t.yaml", 3)
    mark = locate(doc, ("sites", 3, "uplink", "down"))
    assert mark.line == 13


def test_city_scenario_is_short_but_large(scenarios):
    text = (scenarios / "malmo-city.yaml").read_text()
    assert len(text.splitlines()) < 80
    loaded = load_scenario(scenarios / "malmo-city.yaml")
    assert len(loaded.scenario.sites) == 93
    kinds = {s.kind for s in loaded.scenario.sites}
    assert kinds == {"compulsory", "upper-secondary"}
    assert loaded.scenario.sites[60].name == "grundskola-01b"
    assert loaded.scenario.sites[60].uplink.down == 500e6
