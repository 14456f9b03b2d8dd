"""Read MIDI into quantized notes (music21) and write notes to standard MIDI files (symusic).

MIDI files are read at the event level with ``music21.midi`` (note-on/note-off
pairs per channel and pitch, first on matched with first off), which keeps
overlapping notes exact and is far faster than building a notated score.
Other formats (MusicXML, e.g. music21's Bach chorales) go through the score
parser. Multi-track files: every pitched, non-drum track and channel is merged
into one stream (MIDI channel 10, the General MIDI drum channel, and
percussion parts are dropped), so both hands of a piano file survive. Notes of
the same pitch at the same onset are kept once (the longest).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import GenerationError
from .encoder import DEFAULT_VELOCITY, Note, quantize, resolve_overlaps

GM_PROGRAMS_MAX = 127


def _is_drum_part(part) -> bool:
    from music21 import instrument

    for inst in part.recurse().getElementsByClass(instrument.Instrument):
        if isinstance(inst, instrument.UnpitchedPercussion) or inst.midiChannel == 9:
            return True
    return False


def score_to_notes(score, steps_per_quarter: int = 4) -> list[Note]:
    """All pitched notes of a notated music21 score (e.g. MusicXML), merged across non-drum parts, quantized."""
    from music21 import chord, note, stream

    parts = list(score.parts) if isinstance(score, stream.Score) and score.parts else [score]
    best: dict[tuple[int, int], tuple[int, int]] = {}
    for part in parts:
        if _is_drum_part(part):
            continue
        for el in part.stripTies(inPlace=False).flatten().notes:  # tied notes (split at barlines) become one
            if isinstance(el, note.Note):
                pitches = [el.pitch.midi]
            elif isinstance(el, chord.Chord):
                pitches = [p.midi for p in el.pitches]
            else:  # unpitched percussion
                continue
            onset, duration = quantize(float(el.offset), float(el.quarterLength), steps_per_quarter)
            velocity = el.volume.velocity if el.hasVolumeInformation() and el.volume.velocity else DEFAULT_VELOCITY
            for p in pitches:
                if 0 <= p <= 127 and duration > best.get((onset, p), (0, 0))[0]:
                    best[(onset, p)] = (duration, min(127, max(1, int(velocity))))
    return resolve_overlaps(Note(onset, pitch, duration, velocity)
                            for (onset, pitch), (duration, velocity) in best.items())


DRUM_CHANNEL = 10  # music21 numbers channels 1-16
#: The longest piece read, in quarter notes (2,000 bars of 4/4, about 70 minutes at 120 BPM): a file whose
#: notes run past it (a corrupt or hostile delta time, say) is refused when it is read, before any loop over
#: its bars could run for hours.
MAX_QUARTERS = 8_000


class MidiReadError(ValueError):
    """A MIDI file that cannot be read as music; the message says why, in one line."""


def _check_header(data: bytes) -> None:
    """Refuse what music21 would misreport: not a standard MIDI file, or format 2 (independent sequences)."""
    if data[:4] != b"MThd" or len(data) < 14:
        raise MidiReadError("not a standard MIDI file (no MThd header)")
    fmt = int.from_bytes(data[8:10], "big")
    if fmt not in (0, 1):
        raise MidiReadError(f"MIDI format {fmt} is not supported (save it as format 0 or 1)")


def midi_file_to_notes(mf, steps_per_quarter: int = 4) -> list[Note]:
    """Notes of a parsed ``music21.midi.MidiFile``, merged over tracks and channels, drums dropped."""
    from music21 import midi

    tpq = mf.ticksPerQuarterNote
    if tpq == 0:
        raise MidiReadError("MIDI file's header says 0 ticks per quarter note (the file is damaged)")
    if not tpq or tpq < 0:
        raise MidiReadError("MIDI file uses SMPTE time division, which is not supported")
    longest = MAX_QUARTERS * tpq
    best: dict[tuple[int, int], tuple[int, int]] = {}
    for track in mf.tracks:
        time = 0
        sounding: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for event in track.events:
            if isinstance(event, midi.DeltaTime):
                time += event.time
                continue
            if event.channel == DRUM_CHANNEL or event.pitch is None:
                continue
            if time > longest:
                raise MidiReadError(f"its notes run past {MAX_QUARTERS // 4:,} bars (a gap or a piece that long "
                                    "is not read)")
            key = (event.channel, event.pitch)
            if event.type == midi.ChannelVoiceMessages.NOTE_ON and event.velocity:
                sounding.setdefault(key, []).append((time, min(127, int(event.velocity))))
            elif event.type in (midi.ChannelVoiceMessages.NOTE_OFF, midi.ChannelVoiceMessages.NOTE_ON):
                starts = sounding.get(key)
                if starts:
                    start, velocity = starts.pop(0)
                    onset, duration = quantize(start / tpq, (time - start) / tpq, steps_per_quarter)
                    if duration > best.get((onset, event.pitch), (0, 0))[0]:
                        best[(onset, event.pitch)] = (duration, velocity)
    return resolve_overlaps(Note(onset, pitch, duration, velocity)
                            for (onset, pitch), (duration, velocity) in best.items())


def read_midi_notes(path: str | Path, steps_per_quarter: int = 4) -> list[Note]:
    """Notes of a MIDI file (:class:`MidiReadError`, or whatever music21 raises, on a broken file)."""
    return midi_bytes_to_notes(Path(path).read_bytes(), steps_per_quarter)


#: Ticks per quarter note of the MIDI files written here (any multiple of the grid works).
TICKS_PER_QUARTER = 480


def notes_to_midi_bytes(notes: list[Note], *, steps_per_quarter: int = 4, tempo: float = 120.0, program: int = 0) -> bytes:
    """A standard MIDI file: one track with the tempo, the instrument (General MIDI ``program``) and the notes,
    each at its velocity (clamped to 1-127).

    Written with symusic (a C++ MIDI library): about a millisecond for 500 notes, where music21's stream
    writer took most of a second. Overlapping notes of one pitch are cut first (:func:`resolve_overlaps`),
    so reading the file back gives exactly these notes.
    """
    import symusic

    if TICKS_PER_QUARTER % steps_per_quarter:
        raise ValueError(f"steps_per_quarter must divide {TICKS_PER_QUARTER}, got {steps_per_quarter}")
    per_step = TICKS_PER_QUARTER // steps_per_quarter
    score = symusic.Score(TICKS_PER_QUARTER)
    score.tempos.append(symusic.Tempo(0, qpm=float(tempo)))
    track = symusic.Track(name="Ghostwriter", program=int(program), is_drum=False)
    for n in resolve_overlaps(notes):
        velocity = min(127, max(1, int(n.velocity)))
        track.notes.append(symusic.Note(n.onset * per_step, n.duration * per_step, n.pitch, velocity))
    score.tracks.append(track)
    return bytes(score.dumps_midi())


def midi_bytes_to_notes(data: bytes, steps_per_quarter: int = 4) -> list[Note]:
    """Notes of a MIDI file's bytes (:class:`MidiReadError`, or whatever music21 raises, on a broken file)."""
    from music21 import midi

    _check_header(data)
    mf = midi.MidiFile()
    mf.readstr(data)
    return midi_file_to_notes(mf, steps_per_quarter)


def _gm_names() -> tuple[str, ...]:
    try:
        from pretty_midi.constants import INSTRUMENT_MAP
    except ImportError:  # pragma: no cover - pretty_midi is a dependency
        return ()
    return tuple(INSTRUMENT_MAP)


#: The 128 General MIDI program names, program 0 first ("Acoustic Grand Piano").
GM_NAMES = _gm_names()


def resolve_instrument(instrument: str | int | None) -> tuple[int, str]:
    """General MIDI program (0-127) and a display name, from a program number or an instrument name."""
    from music21 import instrument as m21inst

    if instrument is None or instrument == "":
        return 0, "Piano"
    if isinstance(instrument, int) or (isinstance(instrument, str) and instrument.strip().isdigit()):
        program = int(instrument)
        if not 0 <= program <= 127:
            raise GenerationError(f"instrument program must be 0-127, got {program}")
        try:
            name = m21inst.instrumentFromMidiProgram(program).instrumentName or f"program {program}"
        except Exception:
            name = f"program {program}"
        return program, name
    by_name = {name.lower(): program for program, name in enumerate(GM_NAMES)}
    if str(instrument).strip().lower() in by_name:
        program = by_name[str(instrument).strip().lower()]
        return program, GM_NAMES[program]
    try:
        inst = m21inst.fromString(str(instrument))
    except Exception:
        inst = None
    if inst is None or inst.midiProgram is None:
        raise GenerationError(f"unknown instrument {instrument!r} (use a General MIDI name like 'violin' or a number 0-127)")
    return int(inst.midiProgram), inst.instrumentName or str(instrument)
