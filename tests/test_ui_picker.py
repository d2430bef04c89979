"""The kill list names trials, not rows: a click reaches the kernel as that trial, whatever the list did meanwhile."""
from __future__ import annotations


def test_a_toggle_names_its_trial_after_the_list_changed():
    import ipywidgets as W

    from hpo_kit.ui.picker import TrialPicker

    picker = TrialPicker(W)
    picker.show([12, 13, 14], disabled=False)
    toggles = {int(w.description): w for w in picker.widget.children}
    picker.show([13, 14, 15], disabled=False)  # trial 12 ended, 15 started: rows moved
    toggles[14].value = True  # the click the browser sent for the button it showed as 14
    assert picker.selected() == [14]
    assert [w.description for w in picker.widget.children] == ["13", "14", "15"]
    assert toggles[12].comm is None  # the ended trial's button is closed, not reused for another trial
    picker.clear([14])
    assert picker.selected() == []
    picker.show([13], disabled=True)
    assert picker.disabled and all(w.disabled for w in picker.widget.children)
