//! Cortex-M4F firmware (QEMU mps2-an386): samples 64 points of the ring-of-8-Gaussians model with
//! DDIM η = 0, DDIM η = 1 and DDPM, and prints per run the hash of all output bits, the first
//! values, the SysTick ticks it took (deterministic under `-icount`), and the stack high-water
//! mark. No heap: there is no global allocator. Every line must equal the host twin's.

#![no_std]
#![no_main]

use core::cell::RefCell;

use cortex_m::interrupt::Mutex;
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use diffusion_core::{Pcg32, Plan};
use tiny_denoiser::{DIMENSIONS, PLAN_CAPACITY, POINTS, RUNS};

/// Everything sample-sized lives here, in .bss, not on the stack.
struct State {
    plan: Plan<PLAN_CAPACITY>,
    points: [f32; POINTS * DIMENSIONS],
    epsilon: [f32; POINTS * DIMENSIONS],
    streams: heapless::Vec<Pcg32, POINTS>,
}

static STATE: Mutex<RefCell<State>> = Mutex::new(RefCell::new(State {
    plan: Plan::empty(),
    points: [0.0; POINTS * DIMENSIONS],
    epsilon: [0.0; POINTS * DIMENSIONS],
    streams: heapless::Vec::new(),
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
    paint_stack();
    start_ticks(&mut peripherals.SYST);
    let ok = cortex_m::interrupt::free(|cs| {
        let mut state = STATE.borrow(cs).borrow_mut();
        let State {
            plan,
            points,
            epsilon,
            streams,
        } = &mut *state;
        for run in &RUNS {
            let started = SYST::get_current();
            let result = run_once(run, plan, points, epsilon, streams);
            let ticks = started.wrapping_sub(SYST::get_current()) & 0x00FF_FFFF;
            if let Err(error) = result {
                // The variant's name: Display would link float formatting (~10 KiB).
                hprintln!("{}: error: {}", run.name, error.name());
                return false;
            }
            hprintln!("{}", tiny_denoiser::report_line(run.name, points));
            hprintln!(
                "  {} ticks for {} steps x {} points",
                ticks,
                run.steps,
                POINTS
            );
        }
        true
    });
    hprintln!("stack high-water mark: {} bytes", stack_high_water());
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

#[cfg(not(feature = "without-core"))]
fn run_once(
    run: &tiny_denoiser::Run,
    plan: &mut Plan<PLAN_CAPACITY>,
    points: &mut [f32],
    epsilon: &mut [f32],
    streams: &mut heapless::Vec<Pcg32, POINTS>,
) -> Result<(), diffusion_core::Error> {
    tiny_denoiser::build_plan(run, run.steps, plan)?;
    tiny_denoiser::sample(plan, tiny_denoiser::SEED, 0, points, streams, epsilon)
}

/// The same work without the core: the model evaluated `steps` times on fixed points (for the
/// flash measurement; its output is not meant to match the host).
#[cfg(feature = "without-core")]
fn run_once(
    run: &tiny_denoiser::Run,
    _plan: &mut Plan<PLAN_CAPACITY>,
    points: &mut [f32],
    epsilon: &mut [f32],
    _streams: &mut heapless::Vec<Pcg32, POINTS>,
) -> Result<(), diffusion_core::Error> {
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
