/*
 *  sal_synapse.h  --  part of salpynn (GPL-2.0-or-later)
 *
 *  Signed, pair-based spike-timing plasticity with independent causal and
 *  anti-causal branches.  With the default amplitudes (a_causal = -1,
 *  a_anticausal = +1) this is spike-based alignment learning (SAL,
 *  Gierlich et al., arXiv:2503.02642).
 */

#ifndef SALPYNN_SAL_SYNAPSE_H
#define SALPYNN_SAL_SYNAPSE_H

#include <cmath>
#include <cstdint>
#include <iomanip>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "connection.h"
#include "kernel_manager.h"

#include "salpynn_util.h"

/* BeginUserDocs: synapse, spike-timing-dependent plasticity

Short description
+++++++++++++++++

Signed pair-based STDP; by default spike-based alignment learning (SAL).

Description
+++++++++++

``sal_synapse`` changes a *signed* weight by ``eta * K(dt)`` for every pair of
a presynaptic and a postsynaptic spike, with ``dt = t_post + d_dend - t_pre``.
By default the whole delay is dendritic (``d_dend = delay``, as in
``stdp_synapse``); ``dendritic_delay = 0`` measures lags between the spike
times themselves, as discrete-time reference implementations do.  Only then
are the lags of the two synapses of a reciprocal pair exact opposites, so
that SAL conserves ``W_ij + W_ji`` exactly; with a dendritic delay ``d`` each
pair inside the window adds ``O(eta d / tau)`` to the sum.

    K(dt) = a_causal     * k(dt / tau_causal)        dt > 0  (pre before post)
    K(dt) = a_anticausal * k(-dt / tau_anticausal)   dt < 0  (post before pre)
    K(0)  = 0

with ``k(x) = exp(-x)`` (``window = "exp"``) or ``k(x) = max(0, 1 - x)``
(``window = "triangular"``).  The SAL defaults ``a_causal = -1``,
``a_anticausal = +1`` give the reversed, antisymmetric window; ``a_causal =
a_anticausal = +1`` with a triangular window is symmetric Hebbian STDP.

Pairing: with ``pairing = "nearest"`` a spike pairs only with the latest
strictly earlier spike of the other side; with ``pairing = "all"`` with every
strictly earlier spike of the other side.  Spikes closer than NEST's
``stdp_eps`` count as simultaneous and never pair.  All pairs completed by one
spike are summed, added to the weight, and the weight is clipped to
``[w_min, w_max]``; spikes are taken in time order, postsynaptic before
presynaptic at equal times.  As in every NEST STDP synapse, the changes due to
postsynaptic spikes are applied when the next presynaptic spike is
transmitted.

The weight must be finite and lie in ``[w_min, w_max]``.  ``dendritic_delay``
must be -1 or lie in ``[0, delay]``; on a model (``SetDefaults``,
``CopyModel``) only its own range is checked, and every new connection is
checked against its final delay when it is created (``Connect``), so a model
default of 1.5 ms is valid for connections with a delay of 2 ms.  A ``weight``
of NaN in ``Connect`` means "no weight given" to NEST, which then uses the
model's default weight (as for every NEST synapse); pass finite weights.

``eta = 0`` freezes the weight while the synapse keeps tracking spikes, so
learning can be switched on and off at run time.  ``window``, ``pairing`` and
the time constants fix the meaning of the internal traces and cannot be
changed once the connection has seen a spike.

Parameters
++++++++++

================  ======  ===================================================
 weight           real    Signed synaptic weight
 eta              real    Learning rate (0 freezes the weight)
 a_causal         real    Amplitude for dt > 0 (default -1.0)
 a_anticausal     real    Amplitude for dt < 0 (default +1.0)
 tau_causal       ms      Width of the causal branch (default 10.0)
 tau_anticausal   ms      Width of the anti-causal branch (default 10.0)
 window           string  "exp" (default) or "triangular"
 pairing          string  "nearest" (default) or "all"
 w_min            real    Lower weight bound (default -inf)
 w_max            real    Upper weight bound (default +inf)
 dendritic_delay  ms      Delay added to postsynaptic spike times in the
                          lags; -1 (default) means the whole delay, else
                          0 <= dendritic_delay <= delay
================  ======  ===================================================

Transmits
+++++++++

SpikeEvent

References
++++++++++

Gierlich T, Baumbach A, Kungl AF, Max K, Petrovici MA (2025). Spike-based
alignment learning solves the weight transport problem. arXiv:2503.02642.

See also
++++++++

stdp_synapse, static_synapse

EndUserDocs */

namespace salpynn
{

void register_sal_synapse( const std::string& name );

/**
 * Spike times still inside a triangular window, for all-to-all pairing only.
 *
 * Owned through a pointer that is null for every other mode, so exponential and nearest
 * synapses do not pay for two vectors; copies are deep (NEST copies connections when it
 * stores them).
 */
class RecentSpikeTimes
{
public:
  RecentSpikeTimes() = default;
  RecentSpikeTimes( const RecentSpikeTimes& other )
    : lists_( other.lists_ ? std::make_unique< Lists >( *other.lists_ ) : nullptr )
  {
  }
  RecentSpikeTimes&
  operator=( const RecentSpikeTimes& other )
  {
    if ( this != &other )
    {
      lists_ = other.lists_ ? std::make_unique< Lists >( *other.lists_ ) : nullptr;
    }
    return *this;
  }

  std::vector< double >&
  pre()
  {
    return ensure_().pre;
  }
  std::vector< double >&
  post()
  {
    return ensure_().post;
  }

private:
  struct Lists
  {
    std::vector< double > pre;
    std::vector< double > post;
  };
  Lists&
  ensure_()
  {
    if ( not lists_ )
    {
      lists_ = std::make_unique< Lists >();
    }
    return *lists_;
  }
  std::unique_ptr< Lists > lists_;
};

enum class SalWindow : std::uint8_t
{
  EXPONENTIAL,
  TRIANGULAR
};

enum class SalPairing : std::uint8_t
{
  NEAREST,
  ALL_TO_ALL
};

template < typename targetidentifierT >
class sal_synapse : public nest::Connection< targetidentifierT >
{
public:
  typedef nest::CommonSynapseProperties CommonPropertiesType;
  typedef nest::Connection< targetidentifierT > ConnectionBase;

  static constexpr nest::ConnectionModelProperties properties
    = nest::ConnectionModelProperties::HAS_DELAY | nest::ConnectionModelProperties::IS_PRIMARY
      | nest::ConnectionModelProperties::SUPPORTS_HPC | nest::ConnectionModelProperties::SUPPORTS_LBL;

  sal_synapse();
  sal_synapse( const sal_synapse& ) = default;
  sal_synapse& operator=( const sal_synapse& ) = default;

  using ConnectionBase::get_delay;
  using ConnectionBase::get_delay_steps;
  using ConnectionBase::get_rport;
  using ConnectionBase::get_target;

  void get_status( Dictionary& d ) const;
  void set_status( const Dictionary& d, nest::ConnectorModel& cm );
  bool send( nest::Event& e, size_t tid, const CommonPropertiesType& cp );

  class ConnTestDummyNode : public nest::ConnTestDummyNodeBase
  {
  public:
    using nest::ConnTestDummyNodeBase::handles_test_event;
    size_t
    handles_test_event( nest::SpikeEvent&, size_t ) override
    {
      return nest::invalid_port;
    }
  };

  void
  check_connection( nest::Node& s, nest::Node& t, size_t receptor_type, const CommonPropertiesType& )
  {
    // The weight and the delay may have been set through Connect() after set_status(); this
    // is the last point at which a new connection can still be refused.
    check_weight_in_bounds( "sal_synapse", weight_, w_min_, w_max_ );
    check_dendritic_delay_( dendritic_delay_, get_delay() );
    ConnTestDummyNode dummy_target;
    ConnectionBase::check_connection_( dummy_target, s, t, receptor_type );
    t.register_stdp_connection( t_last_pre_ - lag_delay_(), lag_delay_() );
  }

  void
  set_weight( double w )
  {
    weight_ = w;
  }

private:
  static void check_dendritic_delay_( double dendritic_delay, double delay );

  //! False for a model's prototype (SetDefaults, CopyModel) and for a connection that is
  //! still being created: NEST's target identifiers report a target only once it is set.
  bool
  has_target_() const
  {
    Dictionary d;
    ConnectionBase::target_.get_status( d );
    return d.known( nest::names::target );
  }

  double
  kernel_( double x ) const
  {
    // x >= 0 is the lag in units of the branch's time constant.
    if ( window_ == SalWindow::EXPONENTIAL )
    {
      return std::exp( -x );
    }
    return x < 1.0 ? 1.0 - x : 0.0;
  }

  void
  apply_( double summed_window )
  {
    if ( eta_ == 0.0 or summed_window == 0.0 )
    {
      return;
    }
    weight_ += eta_ * summed_window;
    if ( weight_ < w_min_ )
    {
      weight_ = w_min_;
    }
    else if ( weight_ > w_max_ )
    {
      weight_ = w_max_;
    }
  }

  void on_post_spike_( double t_post, double eps );
  void on_pre_spike_( double t_pre, double eps );

  bool
  has_seen_spikes_() const
  {
    return has_pre_ or n_post_ > 0;
  }

  double weight_;
  double eta_;
  double a_causal_;
  double a_anticausal_;
  double tau_causal_;
  double tau_anticausal_;
  double w_min_;
  double w_max_;
  double dendritic_delay_; // -1: the whole delay

  //! The delay added to postsynaptic spike times in the lags.
  double
  lag_delay_() const
  {
    return dendritic_delay_ == -1.0 ? get_delay() : dendritic_delay_;
  }

  // Synapse-local spike bookkeeping; times are effective times at the synapse
  // (postsynaptic spike times are shifted by the dendritic delay).
  double t_last_pre_;       // also the lower end of the history read window
  double pre_trace_;        // sum_pre exp(-(t_last_pre - t_pre)/tau_causal), incl. t_last_pre
  double t_last_post_;      // latest postsynaptic spike
  double t_prev_post_;      // the one before it (needed when t_last_post == t_pre)
  double post_trace_prev_;  // sum over posts *before* t_last_post, decayed to t_last_post
  RecentSpikeTimes recent_; // triangular + all: spikes still inside the window
  std::uint32_t n_post_;    // saturates at 2: we only need "none", "one", "two or more"
  SalWindow window_;
  SalPairing pairing_;
  bool has_pre_;
};

template < typename targetidentifierT >
constexpr nest::ConnectionModelProperties sal_synapse< targetidentifierT >::properties;

template < typename targetidentifierT >
sal_synapse< targetidentifierT >::sal_synapse()
  : ConnectionBase()
  , weight_( 1.0 )
  , eta_( 0.01 )
  , a_causal_( -1.0 )
  , a_anticausal_( 1.0 )
  , tau_causal_( 10.0 )
  , tau_anticausal_( 10.0 )
  , w_min_( -std::numeric_limits< double >::infinity() )
  , w_max_( std::numeric_limits< double >::infinity() )
  , dendritic_delay_( -1.0 )
  , t_last_pre_( 0.0 )
  , pre_trace_( 0.0 )
  , t_last_post_( 0.0 )
  , t_prev_post_( 0.0 )
  , post_trace_prev_( 0.0 )
  , recent_()
  , n_post_( 0 )
  , window_( SalWindow::EXPONENTIAL )
  , pairing_( SalPairing::NEAREST )
  , has_pre_( false )
{
}

template < typename targetidentifierT >
void
sal_synapse< targetidentifierT >::check_dendritic_delay_( double dendritic_delay, double delay )
{
  // One meaning, as in salpynn.rule.PairRule: exactly -1 (the whole delay) or 0 <= d <= delay.
  const std::string expected
    = "sal_synapse: dendritic_delay must be -1 (the whole delay) or in [0, delay] ms; got ";
  if ( dendritic_delay != -1.0 and not( dendritic_delay >= 0.0 and std::isfinite( dendritic_delay ) ) )
  {
    throw nest::BadProperty( expected + format_number( dendritic_delay ) + " ms." );
  }
  if ( dendritic_delay > delay + nest::kernel().connection_manager.get_stdp_eps() )
  {
    throw nest::BadProperty(
      expected + format_number( dendritic_delay ) + " ms with delay " + format_number( delay ) + " ms." );
  }
}

template < typename targetidentifierT >
inline void
sal_synapse< targetidentifierT >::on_post_spike_( double t_post, double eps )
{
  // Causal pairs: this postsynaptic spike completes pairs with earlier presynaptic
  // spikes.  History reading guarantees t_post > t_last_pre_, so every
  // presynaptic spike seen so far is strictly earlier.
  if ( has_pre_ )
  {
    double summed = 0.0;
    if ( pairing_ == SalPairing::NEAREST )
    {
      summed = a_causal_ * kernel_( ( t_post - t_last_pre_ ) / tau_causal_ );
    }
    else if ( window_ == SalWindow::EXPONENTIAL )
    {
      summed = a_causal_ * pre_trace_ * std::exp( -( t_post - t_last_pre_ ) / tau_causal_ );
    }
    else
    {
      for ( const double t_pre : recent_.pre() )
      {
        if ( t_post - t_pre > eps )
        {
          summed += kernel_( ( t_post - t_pre ) / tau_causal_ );
        }
      }
      summed *= a_causal_;
    }
    apply_( summed );
  }

  if ( pairing_ == SalPairing::ALL_TO_ALL )
  {
    if ( window_ == SalWindow::EXPONENTIAL )
    {
      post_trace_prev_ = n_post_ == 0 ? 0.0
                                      : ( post_trace_prev_ + 1.0 )
                                          * std::exp( -( t_post - t_last_post_ ) / tau_anticausal_ );
    }
    else
    {
      // A presynaptic spike at or after t_post cannot reach posts a full window back.
      std::vector< double >& recent_post = recent_.post();
      std::erase_if( recent_post, [ & ]( double t ) { return t_post - t >= tau_anticausal_; } );
      recent_post.push_back( t_post );
    }
  }
  t_prev_post_ = t_last_post_;
  t_last_post_ = t_post;
  if ( n_post_ < 2 )
  {
    ++n_post_;
  }
}

template < typename targetidentifierT >
inline void
sal_synapse< targetidentifierT >::on_pre_spike_( double t_pre, double eps )
{
  // Anti-causal pairs: this presynaptic spike completes pairs with strictly earlier
  // postsynaptic spikes.  The latest post may coincide with t_pre; it is skipped.
  if ( n_post_ > 0 )
  {
    const bool last_post_simultaneous = std::abs( t_pre - t_last_post_ ) <= eps;
    double summed = 0.0;
    if ( pairing_ == SalPairing::NEAREST )
    {
      if ( not last_post_simultaneous )
      {
        summed = a_anticausal_ * kernel_( ( t_pre - t_last_post_ ) / tau_anticausal_ );
      }
      else if ( n_post_ > 1 )
      {
        summed = a_anticausal_ * kernel_( ( t_pre - t_prev_post_ ) / tau_anticausal_ );
      }
    }
    else if ( window_ == SalWindow::EXPONENTIAL )
    {
      // post_trace_prev_ excludes t_last_post, so a simultaneous last post is
      // dropped without cancellation error.
      const double strictly_earlier = last_post_simultaneous ? post_trace_prev_ : post_trace_prev_ + 1.0;
      summed = a_anticausal_ * strictly_earlier * std::exp( -( t_pre - t_last_post_ ) / tau_anticausal_ );
    }
    else
    {
      for ( const double t_post : recent_.post() )
      {
        if ( t_pre - t_post > eps )
        {
          summed += kernel_( ( t_pre - t_post ) / tau_anticausal_ );
        }
      }
      summed *= a_anticausal_;
    }
    apply_( summed );
  }

  if ( pairing_ == SalPairing::ALL_TO_ALL )
  {
    if ( window_ == SalWindow::EXPONENTIAL )
    {
      pre_trace_ = has_pre_ ? pre_trace_ * std::exp( -( t_pre - t_last_pre_ ) / tau_causal_ ) + 1.0 : 1.0;
    }
    else
    {
      std::vector< double >& recent_pre = recent_.pre();
      std::erase_if( recent_pre, [ & ]( double t ) { return t_pre - t >= tau_causal_; } );
      recent_pre.push_back( t_pre );
    }
  }
  t_last_pre_ = t_pre;
  has_pre_ = true;
}

template < typename targetidentifierT >
inline bool
sal_synapse< targetidentifierT >::send( nest::Event& e, size_t tid, const CommonPropertiesType& )
{
  const double t_pre = e.get_stamp().get_ms();
  const double delay = lag_delay_();
  const double eps = nest::kernel().connection_manager.get_stdp_eps();
  nest::Node* target = get_target( tid );

  // Postsynaptic spikes in (t_last_pre - d, t_pre - d]: each is read exactly once.
  std::deque< nest::histentry >::iterator start;
  std::deque< nest::histentry >::iterator finish;
  target->get_history( t_last_pre_ - delay, t_pre - delay, &start, &finish );
  for ( ; start != finish; ++start )
  {
    on_post_spike_( start->t_ + delay, eps );
  }
  on_pre_spike_( t_pre, eps );

  e.set_receiver( *target );
  e.set_weight( weight_ );
  e.set_delay_steps( get_delay_steps() );
  e.set_rport( get_rport() );
  e();
  return true;
}

template < typename targetidentifierT >
void
sal_synapse< targetidentifierT >::get_status( Dictionary& d ) const
{
  ConnectionBase::get_status( d );
  d[ "weight" ] = weight_;
  d[ "eta" ] = eta_;
  d[ "a_causal" ] = a_causal_;
  d[ "a_anticausal" ] = a_anticausal_;
  d[ "tau_causal" ] = tau_causal_;
  d[ "tau_anticausal" ] = tau_anticausal_;
  d[ "window" ] = std::string( window_ == SalWindow::EXPONENTIAL ? "exp" : "triangular" );
  d[ "pairing" ] = std::string( pairing_ == SalPairing::NEAREST ? "nearest" : "all" );
  d[ "w_min" ] = w_min_;
  d[ "w_max" ] = w_max_;
  d[ "dendritic_delay" ] = dendritic_delay_;
  d[ "size_of" ] = static_cast< long >( sizeof( *this ) );
}

template < typename targetidentifierT >
void
sal_synapse< targetidentifierT >::set_status( const Dictionary& d, nest::ConnectorModel& cm )
{
  // Validate everything on copies first so that a refused update leaves the
  // connection unchanged.
  double weight = weight_;
  double eta = eta_;
  double a_causal = a_causal_;
  double a_anticausal = a_anticausal_;
  double tau_causal = tau_causal_;
  double tau_anticausal = tau_anticausal_;
  double w_min = w_min_;
  double w_max = w_max_;
  double dendritic_delay = dendritic_delay_;
  std::string window = window_ == SalWindow::EXPONENTIAL ? "exp" : "triangular";
  std::string pairing = pairing_ == SalPairing::NEAREST ? "nearest" : "all";

  d.update_value( "weight", weight );
  d.update_value( "eta", eta );
  d.update_value( "a_causal", a_causal );
  d.update_value( "a_anticausal", a_anticausal );
  d.update_value( "tau_causal", tau_causal );
  d.update_value( "tau_anticausal", tau_anticausal );
  d.update_value( "w_min", w_min );
  d.update_value( "w_max", w_max );
  d.update_value( "dendritic_delay", dendritic_delay );
  d.update_value( "window", window );
  d.update_value( "pairing", pairing );

  if ( not std::isfinite( eta ) )
  {
    throw nest::BadProperty( "sal_synapse: eta must be finite." );
  }
  if ( not std::isfinite( a_causal ) or not std::isfinite( a_anticausal ) )
  {
    throw nest::BadProperty( "sal_synapse: a_causal and a_anticausal must be finite." );
  }
  if ( not( tau_causal > 0.0 and std::isfinite( tau_causal ) ) )
  {
    throw nest::BadProperty( "sal_synapse: tau_causal must be > 0 ms and finite." );
  }
  if ( not( tau_anticausal > 0.0 and std::isfinite( tau_anticausal ) ) )
  {
    throw nest::BadProperty( "sal_synapse: tau_anticausal must be > 0 ms and finite." );
  }
  if ( window != "exp" and window != "triangular" )
  {
    throw nest::BadProperty(
      "sal_synapse: window must be \"exp\" or \"triangular\", got \"" + window + "\"." );
  }
  if ( pairing != "nearest" and pairing != "all" )
  {
    throw nest::BadProperty(
      "sal_synapse: pairing must be \"nearest\" or \"all\", got \"" + pairing + "\"." );
  }
  if ( std::isnan( w_min ) or std::isnan( w_max ) or w_min > w_max )
  {
    throw nest::BadProperty( "sal_synapse: w_min must be <= w_max; got w_min = " + format_number( w_min )
                             + ", w_max = " + format_number( w_max ) + "." );
  }
  check_weight_in_bounds( "sal_synapse", weight, w_min, w_max );

  const SalWindow new_window = window == "exp" ? SalWindow::EXPONENTIAL : SalWindow::TRIANGULAR;
  const SalPairing new_pairing = pairing == "nearest" ? SalPairing::NEAREST : SalPairing::ALL_TO_ALL;
  double delay = get_delay();
  d.update_value( nest::names::delay, delay );
  // Against the delay only on a connection that exists: a model's default delay is not the
  // delay of the connections made from it, and check_connection() checks a new connection
  // once its delay is final.
  const bool delays_change = d.known( "dendritic_delay" ) or d.known( nest::names::delay );
  check_dendritic_delay_(
    dendritic_delay, delays_change and has_target_() ? delay : std::numeric_limits< double >::infinity() );
  const bool trace_meaning_changes = new_window != window_ or new_pairing != pairing_
                                     or tau_causal != tau_causal_ or tau_anticausal != tau_anticausal_
                                     or dendritic_delay != dendritic_delay_;
  if ( trace_meaning_changes and has_seen_spikes_() )
  {
    throw nest::BadProperty(
      "sal_synapse: window, pairing, tau_causal, tau_anticausal and dendritic_delay cannot change after the "
      "connection has seen spikes; set them when connecting or with SetDefaults/CopyModel." );
  }

  ConnectionBase::set_status( d, cm );
  weight_ = weight;
  eta_ = eta;
  a_causal_ = a_causal;
  a_anticausal_ = a_anticausal;
  tau_causal_ = tau_causal;
  tau_anticausal_ = tau_anticausal;
  w_min_ = w_min;
  w_max_ = w_max;
  dendritic_delay_ = dendritic_delay;
  window_ = new_window;
  pairing_ = new_pairing;
}

} // namespace salpynn

#endif // SALPYNN_SAL_SYNAPSE_H
