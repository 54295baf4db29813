//! Cortex-M4F firmware (QEMU mps2-an386): samples 64 points of the ring-of-8-Gaussians model with
//! DDIM η = 0, DDIM η = 1, DDPM, DPM-Solver++ 2M, UniPC bh2 and DDIM η = 0 with classifier-free
//! guidance toward one mode of the ring, and prints per run the hash of all output bits, the
//! first values, the SysTick ticks its plan and its sampling took (deterministic under
//! `-icount`), and its stack high-water mark. No heap: there is no global allocator. Every
//! line must equal the host twin's.
//!
//! Features `dpm-solver` and `unipc` (both default) link the multistep runs, `guidance` (default)
//! the guided run; a firmware built without one skips that run, which is how
//! `scripts/firmware-check.sh` measures each solver's flash and the guidance's.

#![no_std]
#![no_main]

use core::cell::RefCell;

use cortex_m::interrupt::Mutex;
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
#[cfg(feature = "dpm-solver")]
use diffusion_core::DpmSolverPlan;
use diffusion_core::Error;
#[cfg(feature = "unipc")]
use diffusion_core::UniPcPlan;
#[cfg(feature = "ddim-ddpm")]
use diffusion_core::{DdpmDdimPlan, NoiseStream};
#[cfg(any(feature = "dpm-solver", feature = "unipc"))]
use tiny_denoiser::MULTISTEP_CAPACITY;
#[cfg(feature = "ddim-ddpm")]
use tiny_denoiser::PLAN_CAPACITY;
#[cfg(not(feature = "without-core"))]
use tiny_denoiser::Solver;
use tiny_denoiser::{DIMENSIONS, POINTS, RUNS, Run};

/// Sample-sized buffers of multistep memory: as many as the most demanding linked solver needs.
#[cfg(any(feature = "dpm-solver", feature = "unipc"))]
const HISTORY_BUFFERS: usize = if cfg!(feature = "unipc") {
    tiny_denoiser::UNIPC_HISTORY_BUFFERS
} else {
    tiny_denoiser::DPM_SOLVER_HISTORY_BUFFERS
};

/// Everything sample-sized lives here, in .bss, not on the stack.
#[cfg_attr(feature = "without-core", allow(dead_code))]
struct State {
    #[cfg(feature = "ddim-ddpm")]
    plan: DdpmDdimPlan<PLAN_CAPACITY>,
    #[cfg(feature = "dpm-solver")]
    dpm_solver: DpmSolverPlan<MULTISTEP_CAPACITY>,
    #[cfg(feature = "unipc")]
    unipc: UniPcPlan<MULTISTEP_CAPACITY>,
    points: [f32; POINTS * DIMENSIONS],
    epsilon: [f32; POINTS * DIMENSIONS],
    #[cfg(feature = "ddim-ddpm")]
    streams: heapless::Vec<NoiseStream, POINTS>,
    #[cfg(any(feature = "dpm-solver", feature = "unipc"))]
    /// The multistep solvers' memory (each run uses its first `history_len() · 128` floats).
    history: [f32; HISTORY_BUFFERS * POINTS * DIMENSIONS],
    /// The guided run's ε_c (its ε_u is `epsilon`).
    #[cfg(feature = "guidance")]
    conditional: [f32; POINTS * DIMENSIONS],
    /// The guided run's ε̂.
    #[cfg(feature = "guidance")]
    guided: [f32; POINTS * DIMENSIONS],
}

static STATE: Mutex<RefCell<State>> = Mutex::new(RefCell::new(State {
    #[cfg(feature = "ddim-ddpm")]
    plan: DdpmDdimPlan::empty(),
    #[cfg(feature = "dpm-solver")]
    dpm_solver: DpmSolverPlan::empty(),
    #[cfg(feature = "unipc")]
    unipc: UniPcPlan::empty(),
    points: [0.0; POINTS * DIMENSIONS],
    epsilon: [0.0; POINTS * DIMENSIONS],
    #[cfg(feature = "ddim-ddpm")]
    streams: heapless::Vec::new(),
    #[cfg(any(feature = "dpm-solver", feature = "unipc"))]
    history: [0.0; HISTORY_BUFFERS * POINTS * DIMENSIONS],
    #[cfg(feature = "guidance")]
    conditional: [0.0; POINTS * DIMENSIONS],
    #[cfg(feature = "guidance")]
    guided: [0.0; POINTS * DIMENSIONS],
}));

const STACK_PAINT: u32 = 0xDEAD_BEEF;

unsafe extern "C" {
    static _stack_start: u32;
    static _stack_end: u32;
}

/// Fills the free stack (from its lowest address up to just below the current frame) with a pattern.
fn paint_stack() {
    let bottom = &raw const _stack_end as usize;
    let current = cortex_m::register::msp::read() as usize - 64;
    let mut address = bottom;
    while address < current {
        // SAFETY: [bottom, current) is unused stack: below every live frame, above all statics.
        unsafe { core::ptr::write_volatile(address as *mut u32, STACK_PAINT) };
        address += 4;
    }
}

/// Bytes of stack ever used: from the top down to the lowest overwritten paint word.
fn stack_high_water() -> usize {
    let bottom = &raw const _stack_end as usize;
    let top = &raw const _stack_start as usize;
    let mut address = bottom;
    // SAFETY: reads within the stack region painted above.
    while address < top && unsafe { core::ptr::read_volatile(address as *const u32) } == STACK_PAINT
    {
        address += 4;
    }
    top - address
}

/// SysTick as a free-running 24-bit down counter on the processor clock.
fn start_ticks(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(0x00FF_FFFF);
    syst.clear_current();
    syst.enable_counter();
}

#[entry]
fn main() -> ! {
    let mut peripherals = cortex_m::Peripherals::take().unwrap();
    start_ticks(&mut peripherals.SYST);
    let mut stack = 0;
    let ok = cortex_m::interrupt::free(|cs| {
        let mut state = STATE.borrow(cs).borrow_mut();
        for run in &RUNS {
            paint_stack();
            let started = SYST::get_current();
            let built = build(run, &mut state);
            let planned = SYST::get_current();
            let result = built.and_then(|linked| {
                if linked {
                    sample(run, &mut state).map(|()| true)
                } else {
                    Ok(false)
                }
            });
            let ticks = |from: u32, to: u32| from.wrapping_sub(to) & 0x00FF_FFFF;
            let (plan_ticks, sample_ticks) =
                (ticks(started, planned), ticks(planned, SYST::get_current()));
            let run_stack = stack_high_water();
            stack = stack.max(run_stack);
            match result {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => {
                    // The variant's name: Display would link float formatting (~10 KiB).
                    hprintln!("{}: error: {}", run.name, error.name());
                    return false;
                }
            }
            hprintln!("{}", tiny_denoiser::report_line(run.name, &state.points));
            hprintln!(
                "  plan {} ticks; sampling {} ticks for {} steps x {} points; stack {} bytes",
                plan_ticks,
                sample_ticks,
                run.steps,
                POINTS,
                run_stack
            );
        }
        true
    });
    hprintln!("stack high-water mark: {} bytes", stack);
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

/// Builds `run`'s plan; `Ok(false)` when its solver is not linked into this firmware.
#[cfg(not(feature = "without-core"))]
#[inline(never)]
fn build(run: &Run, state: &mut State) -> Result<bool, Error> {
    match run.solver {
        #[cfg(feature = "ddim-ddpm")]
        Solver::Plan(sampler) => tiny_denoiser::build_plan(sampler, run.steps, &mut state.plan)?,
        #[cfg(feature = "dpm-solver")]
        Solver::DpmSolver(config) => {
            tiny_denoiser::build_dpm_solver_plan(&config, run.steps, &mut state.dpm_solver)?
        }
        #[cfg(feature = "unipc")]
        Solver::UniPc(config) => {
            tiny_denoiser::build_unipc_plan(&config, run.steps, &mut state.unipc)?
        }
        #[cfg(feature = "guidance")]
        Solver::GuidedPlan(sampler, _) => {
            tiny_denoiser::build_plan(sampler, run.steps, &mut state.plan)?
        }
        #[allow(unreachable_patterns)]
        _ => return Ok(false),
    }
    Ok(true)
}

/// Draws x_T and runs the plan [`build`] made.
#[cfg(not(feature = "without-core"))]
#[inline(never)]
fn sample(run: &Run, state: &mut State) -> Result<(), Error> {
    use tiny_denoiser::SEED;
    let State {
        points, epsilon, ..
    } = state;
    match run.solver {
        #[cfg(feature = "ddim-ddpm")]
        Solver::Plan(_) => {
            tiny_denoiser::sample(&state.plan, SEED, 0, points, &mut state.streams, epsilon)
        }
        #[cfg(feature = "dpm-solver")]
        Solver::DpmSolver(_) => {
            let history = &mut state.history;
            tiny_denoiser::sample_multistep(&state.dpm_solver, SEED, 0, points, epsilon, history)
        }
        #[cfg(feature = "unipc")]
        Solver::UniPc(_) => {
            let history = &mut state.history;
            tiny_denoiser::sample_multistep(&state.unipc, SEED, 0, points, epsilon, history)
        }
        #[cfg(feature = "guidance")]
        Solver::GuidedPlan(_, guidance) => {
            let scratch = tiny_denoiser::GuidanceScratch {
                unconditional: epsilon,
                conditional: &mut state.conditional,
                guided: &mut state.guided,
            };
            let streams = &mut state.streams;
            tiny_denoiser::sample_guided(&state.plan, &guidance, SEED, 0, points, streams, scratch)
        }
        #[allow(unreachable_patterns)]
        _ => Ok(()),
    }
}

/// Without the core nothing is planned, and every run is sampled by [`sample`] whatever the
/// features say, so that one build is the baseline of every feature set.
#[cfg(feature = "without-core")]
fn build(_run: &Run, _state: &mut State) -> Result<bool, Error> {
    Ok(true)
}

/// The same work without the core: the model evaluated `steps` times on fixed points (for the
/// flash measurement; its output is not meant to match the host).
#[cfg(feature = "without-core")]
fn sample(run: &Run, state: &mut State) -> Result<(), Error> {
    let State {
        points, epsilon, ..
    } = state;
    for (index, value) in points.iter_mut().enumerate() {
        *value = index as f32 / 64.0 - 1.0;
    }
    for step in 0..run.steps {
        tiny_denoiser::predict_epsilon(points, 999 - step, epsilon);
        for (x, &e) in points.iter_mut().zip(epsilon.iter()) {
            *x -= 0.01 * e;
        }
    }
    Ok(())
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
