//! Cortex-M4F firmware (QEMU mps2-an386): draws 8×8 handwritten digits with the int8 MLP
//! ε-model of `model/` and the core's DDIM (20 steps) and DPM-Solver++ 2M (10 steps), and prints
//! every digit's 64 f32 bit patterns, the SysTick ticks each run took (deterministic under
//! `-icount`), and the stack high-water mark. No heap: there is no global allocator. Every
//! `digit` line must equal the host twin's (`model/examples/host_twin.rs`).

#![no_std]
#![no_main]

use core::cell::RefCell;

use cortex_m::interrupt::Mutex;
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use digits_denoiser::{PIXELS, PLAN_CAPACITY, Plans, RUNS, SEED};

/// Digits per run: the full grid with `--features grid`, a few for the check otherwise.
#[cfg(feature = "grid")]
const DIGITS: u64 = digits_denoiser::GRID_DIGITS;
#[cfg(not(feature = "grid"))]
const DIGITS: u64 = digits_denoiser::CHECK_DIGITS;

/// Plans and one digit's buffers live here, in .bss, not on the stack.
struct State {
    plans: Plans<PLAN_CAPACITY>,
    x: [f32; PIXELS],
    epsilon: [f32; PIXELS],
    history: [f32; PIXELS],
}

static STATE: Mutex<RefCell<State>> = Mutex::new(RefCell::new(State {
    plans: Plans::empty(),
    x: [0.0; PIXELS],
    epsilon: [0.0; PIXELS],
    history: [0.0; PIXELS],
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
            plans,
            x,
            epsilon,
            history,
        } = &mut *state;
        for run in &RUNS {
            if let Err(error) = plans.build(run) {
                // The variant's name: Display would link float formatting (~10 KiB).
                hprintln!("{}: error: {}", run.name, error.name());
                return false;
            }
            let mut ticks: u64 = 0;
            for index in 0..DIGITS {
                // One digit takes well under 2^24 ticks (the counter's period).
                let started = SYST::get_current();
                let result =
                    digits_denoiser::sample_digit(run, plans, SEED, index, x, epsilon, history);
                ticks += (started.wrapping_sub(SYST::get_current()) & 0x00FF_FFFF) as u64;
                if let Err(error) = result {
                    hprintln!("{}: error: {}", run.name, error.name());
                    return false;
                }
                hprintln!("{}", digits_denoiser::digit_line(run, index, x));
            }
            hprintln!(
                "ticks {} {} for {} digits x {} steps",
                run.name,
                ticks,
                DIGITS,
                run.steps
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

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
