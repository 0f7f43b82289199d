/*
 *  sampling_neuron.h  --  part of salpynn (GPL-2.0-or-later)
 *
 *  Stochastic neuron of neural sampling (Buesing et al. 2011) with rectangular
 *  or alpha-shaped PSPs on a basal and an apical input port and exponential or
 *  logistic escape noise.
 */

#ifndef SALPYNN_SAMPLING_NEURON_H
#define SALPYNN_SAMPLING_NEURON_H

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdint>
#include <deque>
#include <iomanip>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "archiving_node.h"
#include "dict_util.h"
#include "event.h"
#include "event_delivery_manager_impl.h"
#include "exceptions.h"
#include "kernel_manager.h"
#include "nest_names.h"
#include "nest_time.h"
#include "nest_types.h"
#include "random_generators.h"
#include "recordables_map.h"
#include "universal_data_logger.h"
#include "universal_data_logger_impl.h"

#include "salpynn_util.h"

/* BeginUserDocs: neuron, point process, stochastic

Short description
+++++++++++++++++

Neural-sampling neuron: rectangular or alpha PSPs, escape noise, absolute refractoriness.

Description
+++++++++++

``sampling_neuron`` is the stochastic neuron of neural sampling (Buesing et
al. 2011) on NEST's time grid (step ``h``, the resolution).  Its membrane
state is

    u(t) = b + psp_basal(t) + lambda_apical * psp_apical(t)

where ``psp_basal`` and ``psp_apical`` sum the PSPs of one port.  With
``psp = "rect"`` (the default, the model of neural sampling) a spike of weight
``w`` that arrives at time ``t_a`` (send time plus delay) on a port adds ``w``
to that port's sum during ``[t_a, t_a + tau_syn)``, i.e. for exactly
``tau_syn / h`` steps, and nothing afterwards.  PSPs already running keep the
duration they started with when ``tau_syn`` changes.

With ``psp = "alpha"`` the spike adds ``w * kappa(t - t_a)`` with the alpha
kernel ``kappa(x) = tau_ref / tau_syn**2 * x * exp(-x / tau_syn)`` (``x >= 0``;
its integral is ``tau_ref``, that of a rectangular PSP of length ``tau_ref``),
evaluated on the grid: 0 in the arrival step, ``kappa(h)`` in the next.  Here
``tau_syn`` is the kernel's time constant and may be any positive time.  The
sum is kept exactly by the two-variable recursion ``s <- E (s + a)``,
``a <- E a + (arrivals)``, ``psp = tau_ref / tau_syn**2 * h * s`` with
``E = exp(-h / tau_syn)``; every earlier PSP keeps contributing its tail.
Changing ``psp`` discards the PSPs running at that moment.  ``lambda_apical`` is a
gain on the apical sum: changing it at run time rescales running apical PSPs
at once.

Outside refractoriness the neuron spikes in the step that ends at ``t`` with
probability ``p(u(t))``:

- ``escape = "exp"``: hazard ``r(u) = exp(u) / tau_ref``, so
  ``p = 1 - exp(-r(u) h)`` (the continuous-time neuron of neural sampling);
- ``escape = "logistic"``: ``p = sigma(u - ln(tau_ref / h))`` with the logistic
  ``sigma(x) = 1 / (1 + exp(-x))`` (the discrete-time variant; with
  ``tau_ref / h`` steps it reproduces step-based reference implementations).

A spike at ``t_s`` starts an absolute refractory period: no spike is possible
before ``t_s + tau_ref``, and the binary state ``z`` is 1 on
``[t_s, t_s + tau_ref)`` (``tau_ref / h`` steps) and 0 otherwise.  The
inter-spike interval of an isolated neuron is therefore ``tau_ref - h + h G``
with ``G`` geometric of parameter ``p(b)``.

Dendritic prediction (optional, ``avg_window > 0``): the neuron keeps two
boxcar averages over its last ``avg_window / h`` steps (the current one
included; while fewer steps have passed, over the steps so far): ``u_bar`` of
its membrane state ``u`` and ``v_bar`` of its basal input ``psp_basal``.  They
persist across ``Simulate`` calls and are cleared only when ``avg_window``
changes.  Every step it stores the learning signal

    g(t) = learning_gate * ( p(u_bar(t)) - p(v_bar(t) + b) )

(``p`` its own escape function: for ``escape = "logistic"`` exactly
``sigma(x - ln(tau_ref / h))``), which ``dendritic_prediction_synapse`` reads
at the time of each presynaptic spike: the dendritic prediction of somatic
activity of Urbanczik & Senn (2014), in the spiking form of the microcircuits
of Gierlich et al. (2025).  With ``lambda_nudge != 0`` the state is nudged
towards a target,

    u(t) = b + basal + lambda_apical * apical + lambda_nudge * (u_target - v_bar(t - h) - b)

with ``v_bar(t - h)`` the basal average before this step (0 before the first).
``u_sum`` and ``v_sum`` accumulate ``u`` and the basal input over the
``n_sum`` steps since they were last set (to 0), for time-averaged readouts.

Implementation: while ``u`` stays constant the steps are independent Bernoulli
trials, so instead of one random number per step the neuron draws the number
of steps to its next spike from the geometric distribution of ``p(u)`` and
counts it down; when ``u`` changes it draws again (the geometric distribution
is memoryless, so the spike statistics are exactly those of per-step trials).
This saves the random number and the exponential of most steps.  With
rectangular PSPs and averaging off, most steps are then quiet: nothing arrives,
no PSP ends, ``u`` is unchanged and the neuron neither fires nor leaves its dead
time.  The neuron knows the next step that is not quiet (the next arrival, PSP
end, end of the dead time or drawn spike) and runs a quiet step as a counter
decrement that touches one cache line (``skip_quiet_steps``).  Arrivals are
kept as per-step sums in arrival order, as a NEST ring buffer sums them, so the
results are bit-identical with ``skip_quiet_steps = false``.

Every spike is archived (``ArchivingNode``), so spike-timing-dependent
synapses such as ``sal_synapse`` work on this neuron.  Random numbers come
from NEST's per-virtual-process generator: results are reproducible for a
fixed ``rng_seed`` and number of virtual processes.

The inherited ``ignore_and_spike`` mechanism, when switched on, replaces the
stochastic spikes by a regular train; each forced spike starts a refractory
period as usual.

Parameters
++++++++++

==================  ======  ===================================================
 b                  real    Bias, dimensionless (default 0.0, finite)
 tau_ref            ms      Refractory time (default 10.0; > 0, multiple of
                            the resolution)
 tau_syn            ms      PSP duration (rect) or alpha time constant
                            (default 0.0 = "equal to tau_ref"; otherwise > 0,
                            for rect a multiple of the resolution)
 psp                string  "rect" (default) or "alpha"
 lambda_apical      real    Gain of the apical port (default 1.0, finite)
 escape             string  "exp" (default) or "logistic"
 weight_scale       real    Factor applied to every incoming weight (default
                            1.0, finite; PyNN's NEST layer sets 0.001 because
                            it stores weights in NEST's milli-units)
 avg_window         ms      Window of u_bar and v_bar (default 0.0 = off;
                            otherwise a multiple of the resolution)
 lambda_nudge       real    Nudging gain (default 0.0, finite; != 0 needs
                            avg_window > 0)
 u_target           real    Nudging target (default 0.0, finite)
 learning_gate      real    Factor on the learning signal g (default 1.0,
                            finite; 0 switches learning off at step
                            resolution)
 skip_quiet_steps   bool    Run quiet steps as a counter (default true; see
                            below).  False runs every step in full; spikes
                            and state are the same either way.
==================  ======  ===================================================

State variables
+++++++++++++++

==================  ======  ===================================================
 u                  real    Membrane state b + basal + lambda_apical * apical
                            (read-only: it is set by b and the input)
 z                  0 or 1  1 while refractory; setting 1 starts a refractory
                            period without a spike, 0 ends it
 t_ref_remaining    ms      Time until the neuron can spike again (>= 0,
                            multiple of the resolution)
 u_bar, v_bar       real    The boxcar averages (read-only; 0 when off)
 u_sum              real    Sum of u since last set (averaging on only)
 v_sum              real    Sum of the basal input since last set (ditto)
 n_sum              int     Number of steps in u_sum (>= 0)
==================  ======  ===================================================

Receptor types
++++++++++++++

``receptor_type`` 1 (``"basal"``, gain 1) and 2 (``"apical"``, gain
``lambda_apical``); 0 is basal, so connections without a receptor type are
basal.  ``GetStatus(..., "receptor_types")`` lists the names.

Recordables
+++++++++++

``u``, ``z``, ``psp_basal``, ``psp_apical``, ``u_bar``, ``v_bar``.

Sends
+++++

SpikeEvent

Receives
++++++++

SpikeEvent, DataLoggingRequest

References
++++++++++

Buesing L, Bill J, Nessler B, Maass W (2011). Neural dynamics as sampling: a
model for stochastic computation in recurrent networks of spiking neurons.
PLoS Computational Biology 7(11):e1002211.

Gierlich T, Baumbach A, Kungl AF, Max K, Petrovici MA (2025). Spike-based
alignment learning solves the weight transport problem. arXiv:2503.02642.

See also
++++++++

pp_psc_delta, sal_synapse, dendritic_prediction_synapse

EndUserDocs */

namespace salpynn
{

void register_sampling_neuron( const std::string& name );

enum class SamplingEscape : std::uint8_t
{
  EXPONENTIAL,
  LOGISTIC
};

enum class SamplingPsp : std::uint8_t
{
  RECTANGULAR,
  ALPHA
};

/**
 * ln(1 - p(u)) of one step, exactly and without cancellation (<= 0): exponential escape
 * p = 1 - exp(-exp(u) h / tau_ref), logistic p = sigma(u - ln(tau_ref / h)).
 */
inline double
escape_log_no_spike( SamplingEscape escape, double u, double h_over_tau, double log_tau_ref )
{
  if ( escape == SamplingEscape::EXPONENTIAL )
  {
    return -std::exp( u ) * h_over_tau;
  }
  // 1 - sigma(x) = sigma(-x), and ln sigma(-x) = -softplus(x).
  const double x = u - log_tau_ref;
  return -( std::max( x, 0.0 ) + std::log1p( std::exp( -std::abs( x ) ) ) );
}

/**
 * Number of steps, counting the current one, until the next spike when every step fires with
 * probability 1 - exp(log_q): geometric, one uniform number from rng (none if p underflows).
 */
inline double
draw_steps_to_spike( nest::BaseRandomGenerator& rng, double log_q )
{
  if ( log_q == 0.0 )
  {
    return std::numeric_limits< double >::infinity(); // p underflows: never fires
  }
  const double uniform = 1.0 - rng.drand(); // in (0, 1]
  return 1.0 + std::floor( std::log( uniform ) / log_q );
}

/**
 * Sums of weights per simulation step, kept sorted by step: a FIFO queue whose entries are
 * mostly added at the back.  Adding to a step sums from 0 in call order, exactly as a NEST
 * ring buffer does.  A ring in a vector that only grows, so a queue that is filled and
 * emptied every few steps allocates nothing in the steady state (std::deque allocates and
 * frees a block every 32 entries).
 */
class StepSums
{
public:
  bool
  empty() const
  {
    return size_ == 0;
  }

  long
  front_step() const
  {
    return at_( 0 ).first;
  }

  double
  front_value() const
  {
    return at_( 0 ).second;
  }

  void
  pop_front()
  {
    head_ = ( head_ + 1 ) & mask_();
    --size_;
  }

  void
  clear()
  {
    head_ = 0;
    size_ = 0;
  }

  //! Add w to the sum of `step`.
  void
  add( long step, double w )
  {
    size_t i = size_;
    while ( i > 0 and at_( i - 1 ).first > step )
    {
      --i;
    }
    if ( i > 0 and at_( i - 1 ).first == step )
    {
      at_( i - 1 ).second += w;
      return;
    }
    if ( size_ == ring_.size() )
    {
      grow_();
    }
    for ( size_t k = size_; k > i; --k )
    {
      at_( k ) = at_( k - 1 );
    }
    at_( i ) = std::make_pair( step, 0.0 );
    at_( i ).second += w;
    ++size_;
  }

private:
  size_t
  mask_() const
  {
    return ring_.size() - 1;
  }

  std::pair< long, double >&
  at_( size_t k )
  {
    return ring_[ ( head_ + k ) & mask_() ];
  }

  const std::pair< long, double >&
  at_( size_t k ) const
  {
    return ring_[ ( head_ + k ) & mask_() ];
  }

  void
  grow_()
  {
    std::vector< std::pair< long, double > > bigger( ring_.empty() ? 8 : 2 * ring_.size() );
    for ( size_t k = 0; k < size_; ++k )
    {
      bigger[ k ] = at_( k );
    }
    ring_.swap( bigger );
    head_ = 0;
  }

  std::vector< std::pair< long, double > > ring_; //!< capacity: 0 or a power of 2
  size_t head_ = 0;
  size_t size_ = 0;
};

/**
 * The summed PSPs of one port.
 *
 * Arrivals are collected per step in a ring buffer.  Rectangular PSPs: the
 * end of every PSP is kept in its own queue, sorted by step, because a PSP
 * may last longer than the ring buffer reaches ahead (min_delay +
 * max_delay).  Alpha PSPs: the two variables of the exact recursion.
 */
struct SamplingInput
{
  //! Arrivals not yet taken, (step, summed weight), sorted by step.  The weights of one
  //! step are summed from 0 in delivery order, exactly as a NEST ring buffer sums them.
  StepSums pending_;
  StepSums ends_; //!< (first step without the PSP, weight)
  double sum_;
  double alpha_a_; //!< sum of w E^x over arrivals (alpha)
  double alpha_s_; //!< sum of w x E^x over arrivals (alpha)

  SamplingInput();

  void clear();

  //! Forget the running PSPs (not the arrivals still in flight).
  void discard_psps();

  //! Add a weight arriving at step t_step.
  void add_arrival( long t_step, double w );

  //! The summed weight arriving at t_step (0 if none), removed from the pending ones.
  double
  take_arrival( long t_step )
  {
    if ( pending_.empty() or pending_.front_step() != t_step )
    {
      return 0.0;
    }
    const double w = pending_.front_value();
    pending_.pop_front();
    return w;
  }

  //! The first step at or after which this port's sum can change (LONG_MAX: never).
  long
  next_change() const
  {
    long next = std::numeric_limits< long >::max();
    if ( not pending_.empty() )
    {
      next = pending_.front_step();
    }
    if ( not ends_.empty() )
    {
      next = std::min( next, ends_.front_step() );
    }
    return next;
  }

  //! Advance the sum to the state at step t_step, given what arrives at that step.
  void advance( long t_step, double arrived, long n_syn );

  //! One step of the alpha recursion; sum_ = scale * s.
  void
  advance_alpha( double arrived, double decay, double scale )
  {
    alpha_s_ = decay * ( alpha_s_ + alpha_a_ );
    alpha_a_ = decay * alpha_a_ + arrived;
    sum_ = scale * alpha_s_;
  }

  //! Whether advance() has anything to do at t_step (checked inline every step).
  bool
  changes_at( long t_step, double arrived ) const
  {
    return arrived != 0.0 or ( not ends_.empty() and ends_.front_step() <= t_step );
  }
};

/**
 * The first step after t_step at which a neuron must run its full update: its input can
 * change (next_change), its dead time ends (r steps left, counting t_step: the step that
 * starts with r == 1), or the spike drawn is due (steps_to_spike, a whole number, reaches 0;
 * >= 1e15: none drawn).
 */
inline long
first_full_update( long t_step, long next_change, long r, double steps_to_spike )
{
  if ( r > 0 )
  {
    return std::min( next_change, t_step + r );
  }
  if ( steps_to_spike < 1e15 )
  {
    return std::min( next_change, t_step + static_cast< long >( steps_to_spike ) );
  }
  return next_change;
}

//! A step before first_full_update(): exactly what the full update does at it.
inline void
quiet_step( long& r, double& steps_to_spike )
{
  if ( r > 1 )
  {
    --r;
  }
  else
  {
    steps_to_spike -= 1.0;
  }
}

class sampling_neuron : public nest::ArchivingNode
{
public:
  //! Spike receptor ports (receptor_type 0 is mapped to BASAL).
  enum Receptor : size_t
  {
    BASAL = 1,
    APICAL = 2
  };

  sampling_neuron();
  sampling_neuron( const sampling_neuron& );

  using nest::Node::handle;
  using nest::Node::handles_test_event;

  size_t send_test_event( nest::Node&, size_t, nest::synindex, bool ) override;

  void handle( nest::SpikeEvent& ) override;
  void handle( nest::DataLoggingRequest& ) override;

  size_t handles_test_event( nest::SpikeEvent&, size_t ) override;
  size_t handles_test_event( nest::DataLoggingRequest&, size_t ) override;

  void get_status( Dictionary& ) const override;
  void set_status( const Dictionary& ) override;

  /**
   * The learning signal g of the step that ended at `step` (a spike stamp in steps).
   *
   * Throws KernelException naming the problem if averaging is off or the step is not among
   * the last ones this neuron updated (NEST delivers a spike before its target advances
   * past the slice in which it was sent, so a synapse never asks for an older step).
   */
  double learning_signal( long step ) const;

  //! Whether the neuron keeps averages (avg_window > 0).
  bool
  averages_on() const
  {
    return P_.avg_window_ > 0.0;
  }

private:
  void init_buffers_() override;
  void pre_run_hook() override;
  void update( nest::Time const&, const long, const long ) override;

  friend class nest::RecordablesMap< sampling_neuron >;
  friend class nest::UniversalDataLogger< sampling_neuron >;

  /**
   * Number of simulation steps in a duration that must lie on the time grid.
   *
   * Throws BadProperty naming the parameter if the duration is not a positive,
   * finite multiple of the current resolution (or, with allow_zero, zero).
   */
  static long grid_steps_( double t_ms, const std::string& name, bool allow_zero = false );

  struct Parameters_
  {
    double b_;              //!< bias (dimensionless)
    double tau_ref_;        //!< refractory time in ms
    double tau_syn_;        //!< PSP duration (rect) or time constant (alpha) in ms; 0: tau_ref
    double lambda_apical_;  //!< gain of the apical port
    double weight_scale_;   //!< factor on incoming weights (unit conversion)
    double avg_window_;     //!< boxcar window of u_bar, v_bar in ms; 0: off
    double lambda_nudge_;   //!< nudging gain
    double u_target_;       //!< nudging target
    double learning_gate_;  //!< factor on the learning signal
    bool skip_quiet_steps_; //!< run quiet steps as a counter (results are identical)
    SamplingEscape escape_;
    SamplingPsp psp_;

    Parameters_();

    double
    effective_tau_syn() const
    {
      return tau_syn_ == 0.0 ? tau_ref_ : tau_syn_;
    }

    void get( Dictionary& ) const;
    void set( const Dictionary&, nest::Node* );
  };

  struct State_
  {
    //! Refractory steps left, counting the current one; z = 1 iff r_ > 0.
    long r_;

    State_();

    void get( Dictionary& ) const;
    void set( const Dictionary&, const Parameters_& );
  };

  using Input_ = SamplingInput;

  /**
   * Boxcar averages of u and of the basal input, the learning-signal ring and the
   * u accumulator.  Not part of Buffers_: they persist across Simulate calls.
   */
  struct Averages_
  {
    std::vector< double > u_ring_; //!< last N values of u
    std::vector< double > v_ring_; //!< last N values of the basal input
    size_t pos_;                   //!< slot of the next value
    long count_;                   //!< values seen, saturating at N
    double u_total_;
    double v_total_;
    double u_bar_;
    double v_bar_;
    std::vector< double > g_;    //!< learning signal per step, indexed step % size
    std::vector< long > g_step_; //!< the step each slot of g_ belongs to (-1: none)
    double u_sum_;
    double v_sum_;
    long n_sum_;

    Averages_();
    void resize( long n_window );
    //! Add one step's values; exact totals are recomputed each time the ring wraps.
    void push( double u, double v );
  };

  struct Buffers_
  {
    explicit Buffers_( sampling_neuron& );
    Buffers_( const Buffers_&, sampling_neuron& );

    Input_ basal_;
    Input_ apical_;

    nest::UniversalDataLogger< sampling_neuron > logger_;
  };

  struct Variables_
  {
    // What a quiet step touches comes first, next to S_ (see the members below).
    /**
     * The first step that needs the full update; every step before it is quiet: no input
     * arrives, no PSP ends, u stays at u_drawn_, and the neuron neither leaves its dead
     * time nor fires, so only a counter moves.  Steps are only skipped while `quiet_ok_`.
     */
    long next_event_;
    double steps_to_spike_; //!< steps until the next spike at u_drawn_ (1: this step)
    bool logged_;           //!< a multimeter is connected (record_data has work)
    bool quiet_ok_;         //!< rectangular PSPs, no averages, no forced spikes
    bool wait_valid_;       //!< steps_to_spike_ holds a draw for u_drawn_
    nest::RngPtr rng_;
    double u_drawn_;     //!< u for which steps_to_spike_ was drawn
    long n_ref_;         //!< tau_ref in steps
    long n_syn_;         //!< tau_syn in steps (rect)
    double alpha_decay_; //!< exp(-h / tau_syn) (alpha)
    double alpha_scale_; //!< tau_ref h / tau_syn^2 (alpha)
    double h_over_tau_;  //!< h / tau_ref: hazard exp(u) / tau_ref times h
    double log_tau_ref_; //!< ln(tau_ref / h), the logistic threshold
    long n_avg_;         //!< avg_window in steps (0: off)
    double nudge_;       //!< lambda_nudge (u_target - v_bar(t - h) - b) of the current step
  };

  //! Number of steps, counting the current one, until the next spike at potential u.
  double
  draw_steps_to_spike_( double u ) const
  {
    return draw_steps_to_spike(
      *V_.rng_, escape_log_no_spike( P_.escape_, u, V_.h_over_tau_, V_.log_tau_ref_ ) );
  }

  double
  spike_probability_( double u ) const
  {
    if ( P_.escape_ == SamplingEscape::EXPONENTIAL )
    {
      return -std::expm1( -std::exp( u ) * V_.h_over_tau_ );
    }
    const double x = u - V_.log_tau_ref_;
    // Two forms so that exp() never overflows.
    return x >= 0.0 ? 1.0 / ( 1.0 + std::exp( -x ) ) : std::exp( x ) / ( 1.0 + std::exp( x ) );
  }

  // Access functions for the UniversalDataLogger.
  double
  get_u_() const
  {
    const double u = P_.b_ + B_.basal_.sum_ + P_.lambda_apical_ * B_.apical_.sum_;
    return P_.lambda_nudge_ == 0.0 ? u : u + V_.nudge_;
  }

  double
  get_u_bar_() const
  {
    return A_.u_bar_;
  }

  double
  get_v_bar_() const
  {
    return A_.v_bar_;
  }

  //! One step of the averages and the learning signal (averaging on only).
  void update_averages_( long t_step, double u );

  //! The first step after t_step at which the full update must run (see next_event_).
  long next_event_after_( long t_step ) const;

  double
  get_z_() const
  {
    return S_.r_ > 0 ? 1.0 : 0.0;
  }

  double
  get_psp_basal_() const
  {
    return B_.basal_.sum_;
  }

  double
  get_psp_apical_() const
  {
    return B_.apical_.sum_;
  }

  Parameters_ P_;
  // A quiet step reads S_.r_ and the first members of V_: one cache line of their own.
  alignas( 64 ) State_ S_;
  Variables_ V_;
  Buffers_ B_;
  Averages_ A_;

  static nest::RecordablesMap< sampling_neuron > recordablesMap_;
};

} // namespace salpynn

namespace nest
{
template <>
inline void
RecordablesMap< salpynn::sampling_neuron >::create()
{
  insert_( "u", &salpynn::sampling_neuron::get_u_ );
  insert_( "z", &salpynn::sampling_neuron::get_z_ );
  insert_( "psp_basal", &salpynn::sampling_neuron::get_psp_basal_ );
  insert_( "psp_apical", &salpynn::sampling_neuron::get_psp_apical_ );
  insert_( "u_bar", &salpynn::sampling_neuron::get_u_bar_ );
  insert_( "v_bar", &salpynn::sampling_neuron::get_v_bar_ );
}
} // namespace nest

namespace salpynn
{

// One definition in the module's single translation unit.
inline nest::RecordablesMap< sampling_neuron > sampling_neuron::recordablesMap_;

inline long
sampling_neuron::grid_steps_( double t_ms, const std::string& name, bool allow_zero )
{
  const double h = nest::Time::get_resolution().get_ms();
  const std::string got = "; got " + format_number( t_ms ) + " ms.";
  const std::string grid = "a multiple of the resolution (" + format_number( h ) + " ms)";
  if ( not std::isfinite( t_ms ) or t_ms < 0.0 or ( t_ms == 0.0 and not allow_zero ) )
  {
    const std::string lower = allow_zero ? ">= 0" : "> 0";
    throw nest::BadProperty(
      "sampling_neuron: " + name + " must be " + lower + " ms, finite and " + grid + got );
  }
  const double steps = std::round( t_ms / h );
  // The tolerance only absorbs the rounding of decimal fractions such as 0.3 / 0.1.
  if ( std::abs( steps * h - t_ms ) > 1e-9 * std::max( 1.0, t_ms ) or ( steps < 1.0 and t_ms > 0.0 ) )
  {
    throw nest::BadProperty( "sampling_neuron: " + name + " must be " + grid + got );
  }
  if ( steps > 1e15 )
  {
    throw nest::BadProperty( "sampling_neuron: " + name + " must be at most 1e15 steps" + got );
  }
  return static_cast< long >( steps );
}

/* ---------------------------------------------------------------------------
 * Parameters and state
 * ------------------------------------------------------------------------- */

inline sampling_neuron::Parameters_::Parameters_()
  : b_( 0.0 )
  , tau_ref_( 10.0 )
  , tau_syn_( 0.0 )
  , lambda_apical_( 1.0 )
  , weight_scale_( 1.0 )
  , avg_window_( 0.0 )
  , lambda_nudge_( 0.0 )
  , u_target_( 0.0 )
  , learning_gate_( 1.0 )
  , skip_quiet_steps_( true )
  , escape_( SamplingEscape::EXPONENTIAL )
  , psp_( SamplingPsp::RECTANGULAR )
{
}

inline void
sampling_neuron::Parameters_::get( Dictionary& d ) const
{
  d[ "b" ] = b_;
  d[ "tau_ref" ] = tau_ref_;
  d[ "tau_syn" ] = tau_syn_;
  d[ "lambda_apical" ] = lambda_apical_;
  d[ "weight_scale" ] = weight_scale_;
  d[ "avg_window" ] = avg_window_;
  d[ "lambda_nudge" ] = lambda_nudge_;
  d[ "u_target" ] = u_target_;
  d[ "learning_gate" ] = learning_gate_;
  d[ "skip_quiet_steps" ] = skip_quiet_steps_;
  d[ "escape" ] = std::string( escape_ == SamplingEscape::EXPONENTIAL ? "exp" : "logistic" );
  d[ "psp" ] = std::string( psp_ == SamplingPsp::RECTANGULAR ? "rect" : "alpha" );
}

inline void
sampling_neuron::Parameters_::set( const Dictionary& d, nest::Node* node )
{
  nest::update_value_param( d, "b", b_, node );
  nest::update_value_param( d, "tau_ref", tau_ref_, node );
  nest::update_value_param( d, "tau_syn", tau_syn_, node );
  nest::update_value_param( d, "lambda_apical", lambda_apical_, node );
  nest::update_value_param( d, "weight_scale", weight_scale_, node );
  nest::update_value_param( d, "avg_window", avg_window_, node );
  nest::update_value_param( d, "lambda_nudge", lambda_nudge_, node );
  nest::update_value_param( d, "u_target", u_target_, node );
  nest::update_value_param( d, "learning_gate", learning_gate_, node );
  d.update_value( "skip_quiet_steps", skip_quiet_steps_ );
  std::string escape = escape_ == SamplingEscape::EXPONENTIAL ? "exp" : "logistic";
  d.update_value( "escape", escape );
  std::string psp = psp_ == SamplingPsp::RECTANGULAR ? "rect" : "alpha";
  d.update_value( "psp", psp );
  if ( psp != "rect" and psp != "alpha" )
  {
    throw nest::BadProperty( "sampling_neuron: psp must be \"rect\" or \"alpha\"; got \"" + psp + "\"." );
  }

  if ( not std::isfinite( b_ ) )
  {
    throw nest::BadProperty( "sampling_neuron: b must be a finite number; got " + format_number( b_ ) + "." );
  }
  if ( not std::isfinite( weight_scale_ ) )
  {
    throw nest::BadProperty(
      "sampling_neuron: weight_scale must be a finite number; got " + format_number( weight_scale_ ) + "." );
  }
  if ( not std::isfinite( lambda_apical_ ) )
  {
    throw nest::BadProperty( "sampling_neuron: lambda_apical must be a finite number; got "
                             + format_number( lambda_apical_ ) + "." );
  }
  for ( const auto& [ name, value ] : { std::pair< const char*, double >( "lambda_nudge", lambda_nudge_ ),
          std::pair< const char*, double >( "u_target", u_target_ ),
          std::pair< const char*, double >( "learning_gate", learning_gate_ ) } )
  {
    if ( not std::isfinite( value ) )
    {
      throw nest::BadProperty( std::string( "sampling_neuron: " ) + name + " must be a finite number; got "
                               + format_number( value ) + "." );
    }
  }
  grid_steps_( avg_window_, "avg_window", true );
  if ( lambda_nudge_ != 0.0 and avg_window_ == 0.0 )
  {
    throw nest::BadProperty(
      "sampling_neuron: lambda_nudge != 0 needs the basal average: set avg_window > 0 ms (got lambda_nudge = "
      + format_number( lambda_nudge_ ) + " with avg_window = 0)." );
  }
  grid_steps_( tau_ref_, "tau_ref" );
  if ( psp == "alpha" )
  {
    if ( not std::isfinite( tau_syn_ ) or tau_syn_ < 0.0 )
    {
      throw nest::BadProperty(
        "sampling_neuron: tau_syn of an alpha PSP must be 0 (meaning tau_syn = tau_ref) or > 0 ms and "
        "finite; got "
        + format_number( tau_syn_ ) + " ms." );
    }
  }
  else
  {
    if ( std::isnan( tau_syn_ ) or tau_syn_ < 0.0 )
    {
      throw nest::BadProperty(
        "sampling_neuron: tau_syn must be 0 (meaning tau_syn = tau_ref) or > 0 ms, finite and a multiple of "
        "the resolution; got "
        + format_number( tau_syn_ ) + " ms." );
    }
    grid_steps_( effective_tau_syn(), "tau_syn" );
  }
  if ( escape != "exp" and escape != "logistic" )
  {
    throw nest::BadProperty(
      "sampling_neuron: escape must be \"exp\" or \"logistic\"; got \"" + escape + "\"." );
  }
  escape_ = escape == "exp" ? SamplingEscape::EXPONENTIAL : SamplingEscape::LOGISTIC;
  psp_ = psp == "rect" ? SamplingPsp::RECTANGULAR : SamplingPsp::ALPHA;
}

inline sampling_neuron::State_::State_()
  : r_( 0 )
{
}

inline void
sampling_neuron::State_::get( Dictionary& d ) const
{
  d[ "z" ] = static_cast< long >( r_ > 0 ? 1 : 0 );
  d[ nest::names::t_ref_remaining ] = nest::Time( nest::Time::step( r_ ) ).get_ms();
}

inline void
sampling_neuron::State_::set( const Dictionary& d, const Parameters_& p )
{
  double t_ref_remaining = 0.0;
  const bool has_t_ref_remaining = d.update_value( nest::names::t_ref_remaining, t_ref_remaining );
  double z = 0.0;
  const bool has_z = d.update_value( "z", z );

  long r = r_;
  if ( has_t_ref_remaining )
  {
    r = grid_steps_( t_ref_remaining, "t_ref_remaining", true );
  }
  if ( has_z )
  {
    if ( z != 0.0 and z != 1.0 )
    {
      throw nest::BadProperty( "sampling_neuron: z must be 0 or 1; got " + format_number( z ) + "." );
    }
    if ( has_t_ref_remaining and ( z == 1.0 ) != ( r > 0 ) )
    {
      throw nest::BadProperty(
        "sampling_neuron: z and t_ref_remaining contradict each other (z = 1 if and only if "
        "t_ref_remaining > 0)." );
    }
    if ( z == 0.0 )
    {
      r = 0;
    }
    else if ( r == 0 )
    {
      // As if the neuron had just spiked, but no spike is emitted or archived.
      r = grid_steps_( p.tau_ref_, "tau_ref" );
    }
  }
  r_ = r;
}

/* ---------------------------------------------------------------------------
 * Input ports and buffers
 * ------------------------------------------------------------------------- */

inline SamplingInput::SamplingInput()
  : pending_()
  , ends_()
  , sum_( 0.0 )
  , alpha_a_( 0.0 )
  , alpha_s_( 0.0 )
{
}

inline void
SamplingInput::clear()
{
  pending_.clear();
  discard_psps();
}

inline void
SamplingInput::add_arrival( long t_step, double w )
{
  pending_.add( t_step, w );
}

inline void
SamplingInput::discard_psps()
{
  ends_.clear();
  sum_ = 0.0;
  alpha_a_ = 0.0;
  alpha_s_ = 0.0;
}

inline void
SamplingInput::advance( long t_step, double arrived, long n_syn )
{
  while ( not ends_.empty() and ends_.front_step() <= t_step )
  {
    sum_ -= ends_.front_value();
    ends_.pop_front();
  }
  if ( ends_.empty() )
  {
    sum_ = 0.0; // no rounding residue once every PSP has ended
  }
  if ( arrived == 0.0 )
  {
    return;
  }
  sum_ += arrived;
  const long end = t_step + n_syn;
  // Ends arrive in order unless tau_syn was shortened during the run.
  ends_.add( end, arrived );
}

inline sampling_neuron::Averages_::Averages_()
  : pos_( 0 )
  , count_( 0 )
  , u_total_( 0.0 )
  , v_total_( 0.0 )
  , u_bar_( 0.0 )
  , v_bar_( 0.0 )
  , u_sum_( 0.0 )
  , v_sum_( 0.0 )
  , n_sum_( 0 )
{
}

inline void
sampling_neuron::Averages_::resize( long n_window )
{
  u_ring_.assign( static_cast< size_t >( n_window ), 0.0 );
  v_ring_.assign( static_cast< size_t >( n_window ), 0.0 );
  pos_ = 0;
  count_ = 0;
  u_total_ = 0.0;
  v_total_ = 0.0;
  u_bar_ = 0.0;
  v_bar_ = 0.0;
}

inline void
sampling_neuron::Averages_::push( double u, double v )
{
  const long n = static_cast< long >( u_ring_.size() );
  if ( count_ < n )
  {
    ++count_;
    u_total_ += u;
    v_total_ += v;
  }
  else
  {
    u_total_ += u - u_ring_[ pos_ ];
    v_total_ += v - v_ring_[ pos_ ];
  }
  u_ring_[ pos_ ] = u;
  v_ring_[ pos_ ] = v;
  if ( ++pos_ == u_ring_.size() )
  {
    pos_ = 0;
    // Exact totals once per window, so that rounding does not accumulate over long runs.
    u_total_ = 0.0;
    v_total_ = 0.0;
    for ( size_t i = 0; i < u_ring_.size(); ++i )
    {
      u_total_ += u_ring_[ i ];
      v_total_ += v_ring_[ i ];
    }
  }
  const double k = static_cast< double >( count_ );
  u_bar_ = u_total_ / k;
  v_bar_ = v_total_ / k;
}

inline sampling_neuron::Buffers_::Buffers_( sampling_neuron& n )
  : basal_()
  , apical_()
  , logger_( n )
{
}

inline sampling_neuron::Buffers_::Buffers_( const Buffers_&, sampling_neuron& n )
  : basal_()
  , apical_()
  , logger_( n )
{
}

/* ---------------------------------------------------------------------------
 * Node
 * ------------------------------------------------------------------------- */

inline sampling_neuron::sampling_neuron()
  : nest::ArchivingNode()
  , P_()
  , S_()
  , V_()
  , B_( *this )
  , A_()
{
  recordablesMap_.create();
}

inline sampling_neuron::sampling_neuron( const sampling_neuron& n )
  : nest::ArchivingNode( n )
  , P_( n.P_ )
  , S_( n.S_ )
  , V_( n.V_ )
  , B_( n.B_, *this )
  , A_()
{
}

inline size_t
sampling_neuron::send_test_event( nest::Node& target, size_t receptor_type, nest::synindex, bool )
{
  nest::SpikeEvent e;
  e.set_sender( *this );
  return target.handles_test_event( e, receptor_type );
}

inline size_t
sampling_neuron::handles_test_event( nest::SpikeEvent&, size_t receptor_type )
{
  if ( receptor_type == 0 or receptor_type == BASAL )
  {
    return BASAL;
  }
  if ( receptor_type == APICAL )
  {
    return APICAL;
  }
  throw nest::UnknownReceptorType( receptor_type, get_name() );
}

inline size_t
sampling_neuron::handles_test_event( nest::DataLoggingRequest& dlr, size_t receptor_type )
{
  if ( receptor_type != 0 )
  {
    throw nest::UnknownReceptorType( receptor_type, get_name() );
  }
  const size_t port = B_.logger_.connect_logging_device( dlr, recordablesMap_ );
  V_.logged_ = true;
  return port;
}

inline void
sampling_neuron::handle( nest::SpikeEvent& e )
{
  const nest::Time& origin = nest::kernel().simulation_manager.get_slice_origin();
  // Read by update() at the step that ends the arrival's lag (see update()).
  const long t_step = origin.get_steps() + e.get_rel_delivery_steps( origin ) + 1;
  const double w = P_.weight_scale_ * e.get_weight() * static_cast< double >( e.get_multiplicity() );
  Input_& port = e.get_rport() == APICAL ? B_.apical_ : B_.basal_;
  port.add_arrival( t_step, w );
  V_.next_event_ = std::min( V_.next_event_, t_step );
}

inline void
sampling_neuron::handle( nest::DataLoggingRequest& e )
{
  B_.logger_.handle( e );
}

inline void
sampling_neuron::get_status( Dictionary& d ) const
{
  P_.get( d );
  S_.get( d );
  d[ "u" ] = get_u_();
  d[ "u_bar" ] = A_.u_bar_;
  d[ "v_bar" ] = A_.v_bar_;
  d[ "u_sum" ] = A_.u_sum_;
  d[ "v_sum" ] = A_.v_sum_;
  d[ "n_sum" ] = A_.n_sum_;
  nest::ArchivingNode::get_status( d );
  d[ nest::names::recordables ] = recordablesMap_.get_list();

  Dictionary receptors;
  receptors[ "basal" ] = static_cast< long >( BASAL );
  receptors[ "apical" ] = static_cast< long >( APICAL );
  d[ nest::names::receptor_types ] = receptors;
}

inline void
sampling_neuron::set_status( const Dictionary& d )
{
  // Validate on copies so that a refused update leaves the neuron unchanged.
  Parameters_ ptmp = P_;
  ptmp.set( d, this );
  State_ stmp = S_;
  stmp.set( d, ptmp );
  double u_sum = A_.u_sum_;
  double v_sum = A_.v_sum_;
  long n_sum = A_.n_sum_;
  d.update_value( "u_sum", u_sum );
  d.update_value( "v_sum", v_sum );
  d.update_value( "n_sum", n_sum );
  if ( not std::isfinite( u_sum ) or not std::isfinite( v_sum ) or n_sum < 0 )
  {
    throw nest::BadProperty(
      "sampling_neuron: u_sum and v_sum must be finite and n_sum >= 0; got u_sum = " + format_number( u_sum )
      + ", v_sum = " + format_number( v_sum ) + ", n_sum = " + std::to_string( n_sum ) + "." );
  }
  nest::ArchivingNode::set_status( d );
  if ( ptmp.psp_ != P_.psp_ )
  {
    B_.basal_.discard_psps();
    B_.apical_.discard_psps();
  }
  if ( ptmp.avg_window_ != P_.avg_window_ )
  {
    A_.resize( 0 ); // cleared now, sized for the new window in pre_run_hook
  }
  A_.u_sum_ = u_sum;
  A_.v_sum_ = v_sum;
  A_.n_sum_ = n_sum;
  P_ = ptmp;
  S_ = stmp;
  V_.next_event_ = std::numeric_limits< long >::min(); // b, z, ... may have changed
}

inline double
sampling_neuron::learning_signal( long step ) const
{
  if ( P_.avg_window_ <= 0.0 )
  {
    throw nest::KernelException( "dendritic_prediction_synapse: its target sampling_neuron (node "
                                 + std::to_string( get_node_id() )
                                 + ") keeps no averages; set avg_window > 0 ms on it." );
  }
  const size_t slot = static_cast< size_t >( step ) % A_.g_.size();
  if ( A_.g_step_[ slot ] != step )
  {
    throw nest::KernelException( "dendritic_prediction_synapse: no learning signal of step "
                                 + std::to_string( step ) + " at node " + std::to_string( get_node_id() )
                                 + " (internal error)." );
  }
  return A_.g_[ slot ];
}

inline void
sampling_neuron::update_averages_( long t_step, double u )
{
  A_.push( u, B_.basal_.sum_ );
  double g = 0.0;
  if ( P_.learning_gate_ != 0.0 )
  {
    g = P_.learning_gate_ * ( spike_probability_( A_.u_bar_ ) - spike_probability_( A_.v_bar_ + P_.b_ ) );
  }
  const size_t slot = static_cast< size_t >( t_step ) % A_.g_.size();
  A_.g_[ slot ] = g;
  A_.g_step_[ slot ] = t_step;
  A_.u_sum_ += u;
  A_.v_sum_ += B_.basal_.sum_;
  ++A_.n_sum_;
}

inline void
sampling_neuron::init_buffers_()
{
  B_.basal_.clear();
  B_.apical_.clear();
  B_.logger_.reset();
  nest::ArchivingNode::clear_history();
  V_.next_event_ = std::numeric_limits< long >::min();
}

inline void
sampling_neuron::pre_run_hook()
{
  B_.logger_.init();
  // The resolution may have changed since the parameters were set.
  V_.n_ref_ = grid_steps_( P_.tau_ref_, "tau_ref" );
  const double h = nest::Time::get_resolution().get_ms();
  if ( P_.psp_ == SamplingPsp::RECTANGULAR )
  {
    V_.n_syn_ = grid_steps_( P_.effective_tau_syn(), "tau_syn" );
  }
  else
  {
    const double tau = P_.effective_tau_syn();
    V_.alpha_decay_ = std::exp( -h / tau );
    V_.alpha_scale_ = P_.tau_ref_ * h / ( tau * tau );
  }
  V_.h_over_tau_ = 1.0 / static_cast< double >( V_.n_ref_ );
  V_.log_tau_ref_ = std::log( static_cast< double >( V_.n_ref_ ) );
  V_.rng_ = nest::get_vp_specific_rng( get_thread() );
  V_.wait_valid_ = false; // parameters (tau_ref, escape) may have changed
  V_.next_event_ = std::numeric_limits< long >::min();
  V_.n_avg_ = grid_steps_( P_.avg_window_, "avg_window", true );
  if ( V_.n_avg_ > 0 )
  {
    if ( static_cast< long >( A_.u_ring_.size() ) != V_.n_avg_ )
    {
      A_.resize( V_.n_avg_ );
    }
    // A spike is delivered before its target advances past the slice it was sent in.
    const size_t ring = static_cast< size_t >( nest::kernel().connection_manager.get_min_delay() ) + 2;
    if ( A_.g_.size() != ring )
    {
      A_.g_.assign( ring, 0.0 );
      A_.g_step_.assign( ring, -1 );
    }
  }
  Dictionary forced;
  IgnoreAndSpikeMechanism::get_status( forced );
  bool ignore_and_spike = false;
  forced.update_value( nest::names::ignore_and_spike, ignore_and_spike );
  V_.quiet_ok_ = P_.skip_quiet_steps_ and P_.psp_ == SamplingPsp::RECTANGULAR and V_.n_avg_ == 0
                 and not ignore_and_spike;
}

inline long
sampling_neuron::next_event_after_( long t_step ) const
{
  if ( not V_.quiet_ok_ )
  {
    return t_step + 1;
  }
  return first_full_update(
    t_step, std::min( B_.basal_.next_change(), B_.apical_.next_change() ), S_.r_, V_.steps_to_spike_ );
}

inline void
sampling_neuron::update( nest::Time const& origin, const long from, const long to )
{
  // Time::get_steps() converts from tics through doubles: once per call, not per step.
  const long origin_steps = origin.get_steps();
  for ( long lag = from; lag < to; ++lag )
  {
    // The state is advanced to the right end of the step.
    const long t_step = origin_steps + lag + 1;
    if ( t_step < V_.next_event_ )
    {
      quiet_step( S_.r_, V_.steps_to_spike_ );
      if ( V_.logged_ )
      {
        B_.logger_.record_data( origin_steps + lag );
      }
      continue;
    }
    const double basal = B_.basal_.take_arrival( t_step );
    const double apical = B_.apical_.take_arrival( t_step );
    if ( P_.psp_ == SamplingPsp::RECTANGULAR )
    {
      if ( B_.basal_.changes_at( t_step, basal ) )
      {
        B_.basal_.advance( t_step, basal, V_.n_syn_ );
      }
      if ( B_.apical_.changes_at( t_step, apical ) )
      {
        B_.apical_.advance( t_step, apical, V_.n_syn_ );
      }
    }
    else
    {
      B_.basal_.advance_alpha( basal, V_.alpha_decay_, V_.alpha_scale_ );
      B_.apical_.advance_alpha( apical, V_.alpha_decay_, V_.alpha_scale_ );
    }

    if ( V_.n_avg_ > 0 )
    {
      // The nudge uses the basal average of the previous step.
      V_.nudge_ = P_.lambda_nudge_ * ( P_.u_target_ - A_.v_bar_ - P_.b_ );
      update_averages_( t_step, get_u_() );
    }

    bool fires = false;
    if ( S_.r_ > 1 )
    {
      --S_.r_;
    }
    else
    {
      S_.r_ = 0;
      const double u = get_u_();
      if ( not V_.wait_valid_ or u != V_.u_drawn_ )
      {
        V_.steps_to_spike_ = draw_steps_to_spike_( u );
        V_.u_drawn_ = u;
        V_.wait_valid_ = true;
      }
      V_.steps_to_spike_ -= 1.0;
      fires = V_.steps_to_spike_ < 0.5;
    }

    if ( spike_event_is_due( fires ) )
    {
      V_.wait_valid_ = false;
      S_.r_ = V_.n_ref_;
      set_spiketime( nest::Time::step( t_step ) );
      nest::SpikeEvent se;
      nest::kernel().event_delivery_manager.send( *this, se, lag );
    }

    V_.next_event_ = next_event_after_( t_step );
    B_.logger_.record_data( origin_steps + lag );
  }
}

} // namespace salpynn

#endif // SALPYNN_SAMPLING_NEURON_H
