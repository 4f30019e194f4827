"""One module per screen or dialog of the console."""

from tui.screens.confirm import ConfirmScreen
from tui.screens.forms import BriefingScreen, DrillRecordScreen, FormModal, FormScreen
from tui.screens.held import HeldScreen
from tui.screens.help import HelpScreen
from tui.screens.journal import JournalScreen
from tui.screens.main import MainScreen
from tui.screens.quit import QuitScreen
from tui.screens.trigger import TriggerScreen

__all__ = [
    "BriefingScreen", "ConfirmScreen", "DrillRecordScreen", "FormModal", "FormScreen",
    "HeldScreen", "HelpScreen", "JournalScreen", "MainScreen", "QuitScreen", "TriggerScreen",
]
